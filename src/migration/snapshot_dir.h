/* The snapshot directory on disk: what a snapshot is made of, written so
 * that it either exists whole or not at all, and read back without trusting
 * a byte of it.
 *
 * DIR holds three files (docs/snapshot.md describes them):
 *   config.json  the VmConfig, Cloud Hypervisor's shape (opaque here)
 *   state        header (magic "KVMBOXSN", format version, sizes), the state
 *                stream (core/state.h; opaque here), CRC-32C of both
 *   memory       guest RAM as guest_mem maps it, offset for offset; sparse:
 *                pages that are all zero are holes
 *
 * Writing goes to DIR.tmp-PID-XXXXXX next to DIR; each file and the
 * directory are fsynced before the directory is renamed to DIR and the
 * parent fsynced. A crash, a full disk or any error on the way leaves no
 * DIR (the temporary directory is removed on error; only a crash can leave
 * one behind, never under DIR's name), and an existing snapshot is never
 * written over: DIR must not exist or be an empty directory (Cloud
 * Hypervisor's users create it beforehand). */
#ifndef KVMBOX_MIGRATION_SNAPSHOT_DIR_H
#define KVMBOX_MIGRATION_SNAPSHOT_DIR_H

#include "core/guest_mem.h"

#include <stddef.h>
#include <stdint.h>

/* The state file's format version this kvmbox writes and the newest it
 * reads; a newer one is refused by name, never guessed at. */
#define SNAPSHOT_FORMAT_VERSION 1
/* Bytes before the state stream: magic, version, reserved, stream size,
 * memory size. */
#define SNAPSHOT_STATE_HEADER 32
/* The most state a snapshot may hold. Real ones are kilobytes; the bound
 * keeps a forged header from asking for an absurd allocation. */
#define SNAPSHOT_STATE_MAX (64ULL << 20)
/* The most config.json may hold (a VmConfig is a few KiB). */
#define SNAPSHOT_CONFIG_MAX (1ULL << 20)

/* Every function below returns 0, or -1 with a one-line message in err that
 * names the file and what is wrong. */

struct snapshot_writer;

/* Refuses a DIR that exists and is not an empty directory, then creates
 * the temporary directory next to it. */
int snapshot_begin(const char *dir, struct snapshot_writer **out, char *err, size_t errlen);
/* Each of these is called once, in any order, before snapshot_commit. On
 * an error the caller calls snapshot_abort. The state is copied: the
 * caller's buffer may go as soon as this returns. */
int snapshot_put_config(struct snapshot_writer *s, const char *json, size_t len, char *err,
                        size_t errlen);
int snapshot_put_state(struct snapshot_writer *s, const void *state, size_t len, char *err,
                       size_t errlen);
/* Writes mem->host[0, mem->ram_size) sparsely. The VM must be paused:
 * nothing may write guest memory meanwhile. */
int snapshot_put_memory(struct snapshot_writer *s, const struct guest_mem *mem, char *err,
                        size_t errlen);
/* Writes the state file, makes everything durable and renames the
 * temporary directory to DIR. Frees s whatever the outcome; on an error
 * there is no DIR (and no temporary directory). */
int snapshot_commit(struct snapshot_writer *s, char *err, size_t errlen);
/* Removes the temporary directory and frees s (NULL is allowed). */
void snapshot_abort(struct snapshot_writer *s);

enum snapshot_memory_mode {
    /* Read the memory file into guest RAM (holes skipped): RAM is the
     * VM's own from the start, whatever its backing. */
    SNAPSHOT_MEMORY_COPY,
    /* Map the memory file MAP_PRIVATE over guest RAM: pages arrive on
     * first touch and clones of one snapshot share the page cache. The
     * file must then not change while the VM runs (kvmbox never rewrites
     * a snapshot in place). Private anonymous RAM only. */
    SNAPSHOT_MEMORY_ONDEMAND,
};

/* An opened snapshot: config.json read, the state file's header and
 * checksum verified, the memory file open and of the size the state file
 * says. The zero value (memory_fd aside) is not valid: use snapshot_open. */
struct snapshot {
    char *config_json;        /* config_len bytes, then a NUL */
    size_t config_len;
    const void *state;        /* the state stream (inside state_file) */
    size_t state_len;
    int memory_fd;            /* read-only */
    uint64_t memory_size;     /* guest RAM's size; the memory file's size */
    char *dir;                /* for messages */
    void *state_file;         /* the whole state file */
};

/* On an error s is left closed (snapshot_close is harmless on it). */
int snapshot_open(const char *dir, struct snapshot *s, char *err, size_t errlen);
/* Fills guest RAM, which must be fresh (all zero: guest_mem_init_backed,
 * nothing written yet) and of memory_size bytes, from the memory file.
 * Call it before KVM's memory slots are registered: ONDEMAND replaces the
 * mapping at the same address (mem->host stays valid). */
int snapshot_load_memory(struct snapshot *s, struct guest_mem *mem, enum snapshot_memory_mode mode,
                         char *err, size_t errlen);
void snapshot_close(struct snapshot *s);

/* The state file's parser, kept apart for the fuzzer: checks buf (len
 * bytes, the whole file) and hands out the stream within it and the memory
 * size the header records. The message does not name the file. */
int snapshot_parse_state(const void *buf, size_t len, const void **payload, size_t *plen,
                         uint64_t *memory_size, char *err, size_t errlen);

#endif
