#include "migration/snapshot_dir.h"

#include "core/mem_scan.h"
#include "util/file.h"

#include "util/crc32c.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PAGE 4096ULL
#define MAGIC "KVMBOXSN"   /* 8 bytes, no NUL in the file */
static const char *const FILES[] = { "config.json", "state", "memory" };

struct snapshot_writer {
    char *dir;            /* DIR, without trailing slashes */
    char *tmp;            /* DIR.tmp-PID-XXXXXX */
    int tmp_fd;
    bool have_config, have_memory;
    uint8_t *state_file;  /* header, stream, checksum: filled in at commit */
    size_t state_file_len;
    uint64_t memory_size;
};

/* ---- little-endian fields of the state header ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Header: magic[8], version u32, reserved u32 (0), stream size u64,
 * memory size u64; then the stream; then CRC-32C of all that, u32. */
int snapshot_parse_state(const void *buf, size_t len, const void **payload, size_t *plen,
                         uint64_t *memory_size, char *err, size_t errlen)
{
    const uint8_t *b = buf;
    const size_t least = SNAPSHOT_STATE_HEADER + 4;
    if (len >= 8 && memcmp(b, MAGIC, 8)) {
        snprintf(err, errlen, "not a kvmbox snapshot state file (bad magic)");
        return -1;
    }
    if (len < least) {
        snprintf(err, errlen, "truncated: %zu bytes, less than the %zu-byte header and checksum",
                 len, least);
        return -1;
    }
    /* The version first: a newer kvmbox may lay out the rest differently,
     * and "written by a newer kvmbox" is the useful message then. */
    uint32_t version = (uint32_t)get_le(b + 8, 4);
    if (version > SNAPSHOT_FORMAT_VERSION) {
        snprintf(err, errlen, "format version %u, written by a newer kvmbox (this one reads up "
                 "to version %u)", version, SNAPSHOT_FORMAT_VERSION);
        return -1;
    }
    if (version == 0 || get_le(b + 12, 4) != 0) {
        snprintf(err, errlen, "corrupted header (format version %u, reserved field %#x)", version,
                 (unsigned)get_le(b + 12, 4));
        return -1;
    }
    uint64_t stream = get_le(b + 16, 8), mem = get_le(b + 24, 8);
    if (stream > SNAPSHOT_STATE_MAX) {
        snprintf(err, errlen, "the header announces %llu bytes of state, more than the limit of "
                 "%llu MiB", (unsigned long long)stream, SNAPSHOT_STATE_MAX >> 20);
        return -1;
    }
    /* stream is bounded above, so this sum cannot overflow. */
    uint64_t want = least + stream;
    if (len != want) {
        snprintf(err, errlen, len < want ? "truncated: %zu bytes, the header announces %llu"
                 : "%zu bytes, the header announces %llu: trailing bytes", len,
                 (unsigned long long)want);
        return -1;
    }
    uint32_t sum = (uint32_t)get_le(b + want - 4, 4);
    if (crc32c(0, b, want - 4) != sum) {
        snprintf(err, errlen, "checksum mismatch: the file is corrupted");
        return -1;
    }
    if (mem == 0 || mem % PAGE) {
        snprintf(err, errlen, "corrupted header: memory size %llu is not a positive multiple "
                 "of 4 KiB", (unsigned long long)mem);
        return -1;
    }
    *payload = b + SNAPSHOT_STATE_HEADER;
    *plen = (size_t)stream;
    *memory_size = mem;
    return 0;
}

/* ---- writing ---- */

static int write_all(int fd, const void *buf, uint64_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        /* Linux moves at most about 2 GiB per call; ask for no more. */
        size_t chunk = len > (1ULL << 30) ? (size_t)(1ULL << 30) : (size_t)len;
        ssize_t n = pwrite(fd, p, chunk, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* "SOURCE (the filesystem at MOUNTPOINT)" for the filesystem holding fd,
 * from /proc/self/mountinfo, so that a full-disk message says which disk;
 * "the filesystem" where it cannot tell (btrfs subvolumes, no /proc). */
static void describe_fs(int fd, char *out, size_t outlen)
{
    snprintf(out, outlen, "the filesystem");
    struct stat st;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f || fstat(fd, &st) < 0) {
        if (f)
            fclose(f);
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE ... */
        unsigned maj, min;
        char mnt[512], src[256];
        const char *dash = strstr(line, " - ");
        if (sscanf(line, "%*u %*u %u:%u %*s %511s", &maj, &min, mnt) != 3 || !dash ||
            sscanf(dash + 3, "%*s %255s", src) != 1)
            continue;
        if (makedev(maj, min) == st.st_dev) {
            snprintf(out, outlen, "%s (the filesystem at %s)", src, mnt);
            break;
        }
    }
    fclose(f);
}

/* The message for a failed write of DIR/name (of DIR itself when name is
 * NULL) with errno e. */
static void write_error(const struct snapshot_writer *s, const char *name, int e, char *err,
                        size_t errlen)
{
    const char *sep = name ? "/" : "";
    if (!name)
        name = "";
    if (e == ENOSPC || e == EDQUOT) {
        char fs[800];
        describe_fs(s->tmp_fd, fs, sizeof fs);
        snprintf(err, errlen, "%s on %s writing %s%s%s: the snapshot was not written",
                 e == ENOSPC ? "no space left" : "disk quota exceeded", fs, s->dir, sep, name);
    } else {
        snprintf(err, errlen, "cannot write %s%s%s: %s: the snapshot was not written", s->dir,
                 sep, name, log_strerror(e));
    }
}

static int create_file(struct snapshot_writer *s, const char *name, char *err, size_t errlen)
{
    /* 0600: the files hold the guest's memory, its secrets included. */
    int fd = openat(s->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        write_error(s, name, errno, err, errlen);
    return fd;
}

/* fsync, then close: a write error the filesystem reports only then (a
 * delayed allocation that finds the disk full) fails the snapshot too. */
static int finish_file(struct snapshot_writer *s, const char *name, int fd, char *err,
                       size_t errlen)
{
    int r = fsync(fd);
    int e = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        e = errno;
    }
    if (r < 0)
        write_error(s, name, e, err, errlen);
    return r;
}

static int put_file(struct snapshot_writer *s, const char *name, const void *buf, size_t len,
                    char *err, size_t errlen)
{
    int fd = create_file(s, name, err, errlen);
    if (fd < 0)
        return -1;
    if (write_all(fd, buf, len, 0) < 0) {
        write_error(s, name, errno, err, errlen);
        close(fd);
        return -1;
    }
    return finish_file(s, name, fd, err, errlen);
}

/* 1 if DIR may be used (missing, or an empty directory), else 0 with the
 * reason in err. */
static int dir_usable(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", dir, log_strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a directory", dir);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, log_strerror(errno));
        return 0;
    }
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    if (!empty)
        snprintf(err, errlen, "%s exists and is not empty: kvmbox never writes over a snapshot "
                 "(remove it, or choose another directory)", dir);
    return empty;
}

/* dir's length without trailing slashes (file:///snap/ names /snap), so
 * that DIR.tmp-... lies next to it and messages read DIR/state. */
static size_t trimmed_len(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n;
}

int snapshot_begin(const char *dir, struct snapshot_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n = trimmed_len(dir);
    if (n == 0 || (n == 1 && dir[0] == '/')) {
        snprintf(err, errlen, "'%s' cannot be a snapshot directory", dir);
        return -1;
    }
    struct snapshot_writer *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strndup(dir, n)) ||
        asprintf(&s->tmp, "%s.tmp-%d-XXXXXX", s->dir, (int)getpid()) < 0) {
        if (s)
            free(s->dir);
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->tmp_fd = -1;
    if (!dir_usable(s->dir, err, errlen))
        goto fail;
    if (!mkdtemp(s->tmp)) {
        snprintf(err, errlen, "cannot create a directory next to %s: %s", s->dir,
                 log_strerror(errno));
        goto fail;
    }
    s->tmp_fd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->tmp_fd < 0) {
        snprintf(err, errlen, "%s: %s", s->tmp, log_strerror(errno));
        rmdir(s->tmp);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    free(s->tmp);
    free(s->dir);
    free(s);
    return -1;
}

int snapshot_put_config(struct snapshot_writer *s, const char *json, size_t len, char *err,
                        size_t errlen)
{
    if (len > SNAPSHOT_CONFIG_MAX) {
        snprintf(err, errlen, "config.json of %zu bytes exceeds the limit of %llu MiB", len,
                 SNAPSHOT_CONFIG_MAX >> 20);
        return -1;
    }
    if (put_file(s, "config.json", json, len, err, errlen) < 0)
        return -1;
    s->have_config = true;
    return 0;
}

int snapshot_put_state(struct snapshot_writer *s, const void *state, size_t len, char *err,
                       size_t errlen)
{
    if (len > SNAPSHOT_STATE_MAX) {
        snprintf(err, errlen, "the VM's state of %zu bytes exceeds the limit of %llu MiB", len,
                 SNAPSHOT_STATE_MAX >> 20);
        return -1;
    }
    /* Kept until commit, when the memory size for the header is known. */
    free(s->state_file);
    s->state_file_len = SNAPSHOT_STATE_HEADER + len + 4;
    s->state_file = malloc(s->state_file_len);
    if (!s->state_file) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (len)
        memcpy(s->state_file + SNAPSHOT_STATE_HEADER, state, len);
    return 0;
}

static bool page_is_zero(const uint8_t *p)
{
    /* The first word zero and each byte equal to the one 8 further on:
     * all zero, with one vectorised memcmp and no zero page to compare. */
    uint64_t w;
    memcpy(&w, p, 8);
    return w == 0 && memcmp(p, p + 8, PAGE - 8) == 0;
}

int snapshot_put_memory(struct snapshot_writer *s, const struct guest_mem *mem, char *err,
                        size_t errlen)
{
    if (mem->ram_size % PAGE) {
        snprintf(err, errlen, "guest RAM of %llu bytes is not whole 4 KiB pages",
                 (unsigned long long)mem->ram_size);
        return -1;
    }
    int fd = create_file(s, "memory", err, errlen);
    if (fd < 0)
        return -1;
    /* Untouched pages and a memfd's holes are skipped unread. */
    struct mem_scan scan;
    mem_scan_open(&scan, mem);
    /* The full size first: every page not written below is a hole. */
    if (ftruncate(fd, (off_t)mem->ram_size) < 0)
        goto write_failed;
    uint64_t start, end, off = 0;
    while (mem_scan_next_stretch(&scan, off, &start, &end) == 0) {
        /* Runs of data pages go out in one write each. */
        uint64_t run = start;
        for (off = start; off < end; off += PAGE) {
            const uint8_t *p = mem->host + off;
            if (mem_scan_page_may_hold_data(&scan, off) && !page_is_zero(p))
                continue;
            if (off > run && write_all(fd, mem->host + run, off - run, run) < 0)
                goto write_failed;
            run = off + PAGE;
        }
        if (end > run && write_all(fd, mem->host + run, end - run, run) < 0)
            goto write_failed;
    }
    mem_scan_close(&scan);
    if (finish_file(s, "memory", fd, err, errlen) < 0)
        return -1;
    s->memory_size = mem->ram_size;
    s->have_memory = true;
    return 0;
write_failed:
    write_error(s, "memory", errno, err, errlen);
    mem_scan_close(&scan);
    close(fd);
    return -1;
}

/* The directory holding path (for its fsync after the rename). */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* Removes what the writer made in a directory (tmp, or DIR after a failed
 * parent fsync) and the directory itself. */
static void remove_snapshot_files(int dirfd, const char *path)
{
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++)
        unlinkat(dirfd, FILES[i], 0);
    rmdir(path);
}

static void writer_free(struct snapshot_writer *s)
{
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    free(s->state_file);
    free(s->tmp);
    free(s->dir);
    free(s);
}

void snapshot_abort(struct snapshot_writer *s)
{
    if (!s)
        return;
    remove_snapshot_files(s->tmp_fd, s->tmp);
    writer_free(s);
}

int snapshot_commit(struct snapshot_writer *s, char *err, size_t errlen)
{
    if (!s->have_config || !s->state_file || !s->have_memory) {
        snprintf(err, errlen, "%s: incomplete snapshot (%s missing): not written", s->dir,
                 !s->have_config ? "config.json" : !s->state_file ? "state" : "memory");
        goto fail;
    }
    uint8_t *h = s->state_file;
    size_t sum_at = s->state_file_len - 4;
    memcpy(h, MAGIC, 8);
    put_le(h + 8, SNAPSHOT_FORMAT_VERSION, 4);
    put_le(h + 12, 0, 4);
    put_le(h + 16, sum_at - SNAPSHOT_STATE_HEADER, 8);
    put_le(h + 24, s->memory_size, 8);
    put_le(h + sum_at, crc32c(0, h, sum_at), 4);
    if (put_file(s, "state", h, s->state_file_len, err, errlen) < 0)
        goto fail;
    if (fsync(s->tmp_fd) < 0) {
        write_error(s, NULL, errno, err, errlen);
        goto fail;
    }
    /* rename() replaces an empty directory and refuses a non-empty one,
     * in one step: a snapshot written to DIR meanwhile is never lost. */
    if (rename(s->tmp, s->dir) < 0) {
        if (errno == ENOTEMPTY || errno == EEXIST)
            snprintf(err, errlen, "%s was filled while the snapshot was written: the snapshot "
                     "was not written", s->dir);
        else
            snprintf(err, errlen, "cannot rename %s to %s: %s: the snapshot was not written",
                     s->tmp, s->dir, log_strerror(errno));
        goto fail;
    }
    char *parent = parent_of(s->dir);
    if (!parent || fsync_dir(parent) < 0) {
        /* The rename may not survive a crash: no snapshot, as promised. */
        snprintf(err, errlen, "cannot make %s durable (fsync of %s: %s): the snapshot was not "
                 "written", s->dir, parent ? parent : "its directory",
                 log_strerror(parent ? errno : ENOMEM));
        free(parent);
        remove_snapshot_files(s->tmp_fd, s->dir);
        close(s->tmp_fd);
        s->tmp_fd = -1;
        writer_free(s);
        return -1;
    }
    free(parent);
    writer_free(s);
    return 0;
fail:
    snapshot_abort(s);
    return -1;
}

/* ---- reading ---- */

/* The whole of DIR/name into a fresh buffer with a NUL after it, at most
 * max bytes (the size is checked before anything is allocated). */
static void *read_small_file(const char *dir, const char *name, size_t max, size_t *len,
                             char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, errno == ENOENT ? "%s: missing" : "%s: %s", path, log_strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    uint8_t *buf = NULL;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: %lld bytes, more than the %zu a snapshot's %s may hold",
                 path, (long long)st.st_size, max, name);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        snprintf(err, errlen, "out of memory");
    } else {
        size_t got = 0, want = (size_t)st.st_size;
        ssize_t n = 1;
        while (got < want && (n = pread(fd, buf + got, want - got, (off_t)got)) != 0) {
            if (n < 0 && errno != EINTR)
                break;
            if (n > 0)
                got += (size_t)n;
        }
        if (got < want) {
            snprintf(err, errlen, "%s: %s", path, n < 0 ? log_strerror(errno)
                     : "changed while being read");
            free(buf);
            buf = NULL;
        } else {
            buf[want] = 0;
            *len = want;
        }
    }
    close(fd);
    return buf;
}

void snapshot_close(struct snapshot *s)
{
    if (s->memory_fd >= 0)
        close(s->memory_fd);
    free(s->config_json);
    free(s->state_file);
    free(s->dir);
    memset(s, 0, sizeof *s);
    s->memory_fd = -1;
}

int snapshot_open(const char *dir, struct snapshot *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->memory_fd = -1;
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "%s: %s", dir, errno == ENOENT ? "no such snapshot directory"
                 : log_strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    char e[200];
    size_t len;
    if (!(s->dir = strndup(dir, trimmed_len(dir))))
        goto fail_msg_set;
    dir = s->dir;
    if (!(s->config_json = read_small_file(dir, "config.json", SNAPSHOT_CONFIG_MAX,
                                           &s->config_len, err, errlen)) ||
        !(s->state_file = read_small_file(dir, "state", SNAPSHOT_STATE_HEADER + 4 +
                                          SNAPSHOT_STATE_MAX, &len, err, errlen)))
        goto fail_msg_set;
    if (snapshot_parse_state(s->state_file, len, &s->state, &s->state_len, &s->memory_size, e,
                             sizeof e) < 0) {
        snprintf(err, errlen, "%s/state: %s", dir, e);
        goto fail;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/memory", dir);
    s->memory_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->memory_fd < 0 || fstat(s->memory_fd, &st) < 0) {
        snprintf(err, errlen, errno == ENOENT ? "%s: missing" : "%s: %s", path, log_strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->memory_size) {
        snprintf(err, errlen, !S_ISREG(st.st_mode) ? "%s: not a regular file"
                 : "%s: %llu bytes, the state file says %llu: truncated, or not this snapshot's",
                 path, (unsigned long long)st.st_size, (unsigned long long)s->memory_size);
        goto fail;
    }
    return 0;
fail_msg_set:
    if (!s->dir)
        snprintf(err, errlen, "out of memory");
fail:
    snapshot_close(s);
    return -1;
}

/* COPY: the memory file's data stretches read straight into guest RAM;
 * its holes are zero, as fresh RAM already is. */
static int copy_memory(struct snapshot *s, struct guest_mem *mem, char *err, size_t errlen)
{
    uint64_t start, end, off = 0;
    while (file_data_extent(s->memory_fd, off, s->memory_size, &start, &end) == 0) {
        for (off = start; off < end;) {
            size_t chunk = end - off > (1ULL << 30) ? (size_t)(1ULL << 30) : (size_t)(end - off);
            ssize_t n = pread(s->memory_fd, mem->host + off, chunk, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                snprintf(err, errlen, "%s/memory: %s", s->dir, n < 0 ? log_strerror(errno)
                         : "changed while being read (shorter than the state file says)");
                return -1;
            }
            off += (uint64_t)n;
        }
    }
    return 0;
}

/* The most file mappings ONDEMAND makes: each also splits RAM's anonymous
 * mapping, and a process may hold vm.max_map_count (65530 by default)
 * mappings in all. */
#define ONDEMAND_MAX_MAPPINGS 4096

/* The next stretch to map at or after off: a data extent, joined with the
 * ones after it across holes shorter than gap. */
static int next_mapping(int fd, uint64_t off, uint64_t size, uint64_t gap, uint64_t *start,
                        uint64_t *end)
{
    if (file_data_extent(fd, off, size, start, end))
        return 1;
    uint64_t s2, e2;
    while (*end < size && file_data_extent(fd, *end, size, &s2, &e2) == 0 && s2 - *end < gap)
        *end = e2;
    return 0;
}

/* The shortest hole left out of the mappings that keeps them within
 * ONDEMAND_MAX_MAPPINGS: 0 (every hole) unless the file is fragmented. */
static uint64_t mapping_gap(int fd, uint64_t size)
{
    for (uint64_t gap = 0;; gap = gap ? gap * 4 : 64 * 1024) {
        unsigned n = 0;
        uint64_t start, end = 0;
        while (n <= ONDEMAND_MAX_MAPPINGS && next_mapping(fd, end, size, gap, &start, &end) == 0)
            n++;
        if (n <= ONDEMAND_MAX_MAPPINGS)
            return gap;   /* at the latest when gap exceeds size: one mapping */
    }
}

/* ONDEMAND: the memory file's data extents mapped privately at their
 * places in RAM, so those pages arrive from the page cache on first touch
 * and clones share them. Its holes stay anonymous RAM: a page there costs
 * nothing until the guest writes it, and then one zeroed page (or a huge
 * page), not a page-cache page of zeros and a private copy of it.
 * Only over private anonymous RAM: shared=on RAM is a memfd that other
 * processes map, and it must stay the VM's memory; hugepages=on RAM would
 * trade its reserved huge pages for the file's 4 KiB ones. */
static int map_memory(struct snapshot *s, struct guest_mem *mem, char *err, size_t errlen)
{
    if (mem->backing != GUEST_MEM_ANON) {
        snprintf(err, errlen, "memory_restore_mode=ondemand maps %s/memory as guest RAM, which "
                 "%s RAM cannot be: use memory_restore_mode=copy", s->dir,
                 mem->backing == GUEST_MEM_SHARED ? "shared=on" : "hugepages=on");
        return -1;
    }
    int fd = s->memory_fd;
    uint64_t gap = mapping_gap(fd, mem->ram_size), start, end = 0;
    while (next_mapping(fd, end, mem->ram_size, gap, &start, &end) == 0) {
        /* MAP_NORESERVE: the private copies of pages the guest writes
         * are not charged up front, as RAM never is. */
        if (mmap(mem->host + start, end - start, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)start) == MAP_FAILED) {
            int e = errno;
            /* Fresh anonymous RAM back over all of it (a failed MAP_FIXED
             * may have unmapped its range), so that mem stays whole. */
            mmap(mem->host, mem->ram_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
            madvise(mem->host, mem->ram_size, MADV_HUGEPAGE);
            mem->file_mapped = false;
            snprintf(err, errlen, "cannot map %s/memory: %s", s->dir, log_strerror(e));
            return -1;
        }
        mem->file_mapped = true;
    }
    return 0;
}

int snapshot_load_memory(struct snapshot *s, struct guest_mem *mem, enum snapshot_memory_mode mode,
                         char *err, size_t errlen)
{
    if (mem->ram_size != s->memory_size) {
        snprintf(err, errlen, "%s/memory holds %llu bytes of guest RAM, the VM has %llu",
                 s->dir, (unsigned long long)s->memory_size, (unsigned long long)mem->ram_size);
        return -1;
    }
    return mode == SNAPSHOT_MEMORY_ONDEMAND ? map_memory(s, mem, err, errlen)
                                            : copy_memory(s, mem, err, errlen);
}
