/* The snapshot directory: written whole or not at all, memory sparse, read
 * back into fresh RAM by copy or by mapping, and every damaged or
 * mismatched snapshot refused with a message naming the file. */
#include "migration/snapshot_dir.h"
#include "util/crc32c.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ULL
#define MIB (1ULL << 20)
static const char CONFIG[] = "{\"cpus\":{\"boot_vcpus\":1},\"memory\":{\"size\":67108864}}";
static const char STATE[] = "opaque state stream bytes";

struct fixture {
    char dir[64];      /* a fresh directory for the test's snapshots */
    char snap[128];    /* dir/snap */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kvmbox-snapdir-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->snap, sizeof f->snap, "%s/snap", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s/small", f->dir);
    umount2(cmd, MNT_DETACH);   /* full_disk's tmpfs, if it failed half-way */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int r = system(cmd);
    free(f);
    return r == 0 ? 0 : -1;
}

/* A page's worth of bytes that tell which page they are. */
static void fill_page(const struct guest_mem *m, uint64_t gpa)
{
    uint8_t buf[PAGE];
    for (size_t i = 0; i < PAGE; i++)
        buf[i] = (uint8_t)(gpa >> 12 ^ i ^ (i >> 8)) | 1;
    assert_int_equal(guest_mem_write(m, gpa, buf, PAGE), 0);
}

static void write_snapshot(const char *dir, const struct guest_mem *m)
{
    char err[512] = "";
    struct snapshot_writer *w;
    assert_int_equal(snapshot_begin(dir, &w, err, sizeof err), 0);
    assert_int_equal(snapshot_put_memory(w, m, err, sizeof err), 0);
    assert_int_equal(snapshot_put_config(w, CONFIG, strlen(CONFIG), err, sizeof err), 0);
    assert_int_equal(snapshot_put_state(w, STATE, sizeof STATE, err, sizeof err), 0);
    if (snapshot_commit(w, err, sizeof err) < 0)
        fail_msg("commit: %s", err);
}

/* Bytes the memory file takes on disk. */
static uint64_t allocated(const char *snap)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/memory", snap);
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

/* Whether anything named like a temporary snapshot directory is in dir. */
static bool temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)))
        found |= strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return found;
}

/* Whether the page at addr is mapped from a file (per /proc/self/maps). */
static bool file_backed(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    unsigned long lo, hi, inode = 0, a = (unsigned long)(uintptr_t)addr;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &inode) == 3 && lo <= a && a < hi;
    fclose(f);
    assert_true(found);
    return inode != 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Opens snap and loads its memory into fresh RAM of size bytes. */
static void load(const char *snap, struct guest_mem *m, uint64_t size,
                 enum guest_mem_backing backing, enum snapshot_memory_mode mode)
{
    char err[512] = "";
    struct snapshot s;
    if (snapshot_open(snap, &s, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    assert_int_equal(s.config_len, strlen(CONFIG));
    assert_string_equal(s.config_json, CONFIG);
    assert_int_equal(s.state_len, sizeof STATE);
    assert_memory_equal(s.state, STATE, sizeof STATE);
    assert_int_equal(s.memory_size, size);
    assert_int_equal(guest_mem_init_backed(m, size, backing, err, sizeof err), 0);
    if (snapshot_load_memory(&s, m, mode, err, sizeof err) < 0)
        fail_msg("load: %s", err);
    snapshot_close(&s);
}

static void crc_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
    /* In pieces, the same. */
    assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
    assert_int_equal(crc32c(0, "", 0), 0);
}

/* 64 MiB: a few pages with data, one written with zeros, one only read.
 * The memory file holds the data pages alone; both loads give back RAM
 * equal byte for byte; ONDEMAND's RAM is private (writes never reach the
 * file), and a snapshot of it reads every page, the file's included. */
static void roundtrip(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct guest_mem m, c, o;
    uint64_t size = 64 * MIB;
    assert_int_equal(guest_mem_init(&m, size, err, sizeof err), 0);
    const uint64_t data[] = { 0, PAGE, MIB + 5 * PAGE, 32 * MIB, size - PAGE };
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        fill_page(&m, data[i]);
    assert_int_equal(guest_mem_fill(&m, 8 * MIB, 0, PAGE), 0);
    volatile uint8_t *rd = guest_mem_ptr(&m, 9 * MIB, 1);
    assert_int_equal(*rd, 0);

    write_snapshot(f->snap, &m);
    assert_true(exists(f->snap));
    assert_false(temp_left(f->dir));
    assert_true(allocated(f->snap) <= 5 * PAGE + 64 * 1024);

    load(f->snap, &c, size, GUEST_MEM_ANON, SNAPSHOT_MEMORY_COPY);
    assert_memory_equal(c.host, m.host, size);
    assert_false(c.file_mapped);
    load(f->snap, &o, size, GUEST_MEM_ANON, SNAPSHOT_MEMORY_ONDEMAND);
    assert_true(o.file_mapped);
    /* The file's data is mapped; its holes stay anonymous RAM. */
    assert_true(file_backed(o.host + 32 * MIB));
    assert_false(file_backed(o.host + 16 * MIB));
    assert_memory_equal(o.host, m.host, size);

    /* Writes to the mapped RAM stay in this process. */
    fill_page(&o, 2 * MIB);
    assert_int_equal(guest_mem_fill(&o, 0, 0, PAGE), 0);
    struct guest_mem again;
    load(f->snap, &again, size, GUEST_MEM_ANON, SNAPSHOT_MEMORY_COPY);
    assert_memory_equal(again.host, m.host, size);
    guest_mem_destroy(&again);

    /* A snapshot of the on-demand clone holds what the clone sees: the
     * file's pages it never touched, and its own changes. */
    char snap2[160];
    snprintf(snap2, sizeof snap2, "%s/clone", f->dir);
    write_snapshot(snap2, &o);
    load(snap2, &again, size, GUEST_MEM_ANON, SNAPSHOT_MEMORY_COPY);
    assert_memory_equal(again.host, o.host, size);
    assert_true(allocated(snap2) <= 5 * PAGE + 64 * 1024);
    guest_mem_destroy(&again);

    guest_mem_destroy(&o);
    guest_mem_destroy(&c);
    guest_mem_destroy(&m);
}

/* 3.5 GiB in two regions, the second above the hole: the file is offset
 * for offset the mapping, 3.5 GiB long and almost all holes. */
static void two_regions(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct guest_mem m;
    uint64_t size = 3584 * MIB;
    assert_int_equal(guest_mem_init(&m, size, err, sizeof err), 0);
    assert_int_equal(m.nregions, 2);
    const uint64_t hi = GUEST_MEM_HIGH_START;
    const uint64_t data[] = { 0, GUEST_MEM_HOLE_START - PAGE, hi, hi + 100 * MIB, hi + 512 * MIB - PAGE };
    /* A page next to each, which must stay zero. */
    const uint64_t zero[] = { PAGE, GUEST_MEM_HOLE_START - 2 * PAGE, hi + PAGE, hi + 100 * MIB - PAGE,
                              hi + 512 * MIB - 2 * PAGE };
    const size_t n = sizeof data / sizeof data[0];
    for (size_t i = 0; i < n; i++)
        fill_page(&m, data[i]);
    write_snapshot(f->snap, &m);
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/memory", f->snap);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    assert_true(allocated(f->snap) <= n * PAGE + 64 * 1024);

    for (int mode = SNAPSHOT_MEMORY_COPY; mode <= SNAPSHOT_MEMORY_ONDEMAND; mode++) {
        struct guest_mem r;
        load(f->snap, &r, size, GUEST_MEM_ANON, mode);
        for (size_t i = 0; i < n; i++) {
            assert_memory_equal(guest_mem_ptr(&r, data[i], PAGE), guest_mem_ptr(&m, data[i], PAGE),
                                PAGE);
            const uint8_t *z = guest_mem_ptr(&r, zero[i], PAGE);
            assert_non_null(z);
            for (size_t j = 0; j < PAGE; j++)
                assert_int_equal(z[j], 0);
        }
        guest_mem_destroy(&r);
    }
    guest_mem_destroy(&m);
}

/* A memory file in more pieces than ONDEMAND maps one by one (every other
 * page): nearby pieces are mapped together, holes and all, and RAM is
 * still the snapshot's byte for byte. */
static void fragmented(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct guest_mem m, o;
    uint64_t size = 64 * MIB;
    assert_int_equal(guest_mem_init(&m, size, err, sizeof err), 0);
    for (uint64_t p = 0; p < size; p += 2 * PAGE)
        fill_page(&m, p);
    write_snapshot(f->snap, &m);
    load(f->snap, &o, size, GUEST_MEM_ANON, SNAPSHOT_MEMORY_ONDEMAND);
    assert_memory_equal(o.host, m.host, size);
    guest_mem_destroy(&o);
    guest_mem_destroy(&m);
}

/* shared=on RAM (a memfd): written sparsely too (the memfd's holes),
 * loaded by copy; on demand is refused with the reason. */
static void shared_backing(void **state)
{
    struct fixture *f = *state;
    char err[512] = "";
    struct guest_mem m, r;
    uint64_t size = 64 * MIB;
    assert_int_equal(guest_mem_init_backed(&m, size, GUEST_MEM_SHARED, err, sizeof err), 0);
    fill_page(&m, 3 * PAGE);
    fill_page(&m, 40 * MIB);
    assert_int_equal(guest_mem_fill(&m, 41 * MIB, 0, PAGE), 0);
    write_snapshot(f->snap, &m);
    assert_true(allocated(f->snap) <= 2 * PAGE + 64 * 1024);
    load(f->snap, &r, size, GUEST_MEM_SHARED, SNAPSHOT_MEMORY_COPY);
    assert_memory_equal(r.host, m.host, size);
    guest_mem_destroy(&r);

    struct snapshot s;
    assert_int_equal(snapshot_open(f->snap, &s, err, sizeof err), 0);
    assert_int_equal(guest_mem_init_backed(&r, size, GUEST_MEM_SHARED, err, sizeof err), 0);
    assert_int_equal(snapshot_load_memory(&s, &r, SNAPSHOT_MEMORY_ONDEMAND, err, sizeof err), -1);
    assert_non_null(strstr(err, "shared=on"));
    assert_non_null(strstr(err, "memory_restore_mode=copy"));
    snapshot_close(&s);
    guest_mem_destroy(&r);
    guest_mem_destroy(&m);
}

/* A small valid snapshot at f->snap, its memory 4 MiB with one page. */
static void small_snapshot(const char *snap)
{
    char err[512];
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 4 * MIB, err, sizeof err), 0);
    fill_page(&m, MIB);
    write_snapshot(snap, &m);
    guest_mem_destroy(&m);
}

/* snapshot_open's message for f->snap, which must be refused. */
static const char *open_error(const char *snap)
{
    static char err[512];
    struct snapshot s;
    err[0] = 0;
    assert_int_equal(snapshot_open(snap, &s, err, sizeof err), -1);
    assert_int_equal(s.memory_fd, -1);
    assert_null(s.config_json);
    snapshot_close(&s);
    return err;
}

static void patch(const char *snap, const char *name, long off, const void *bytes, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", snap, name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    if (off < 0)
        off += lseek(fd, 0, SEEK_END);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void set_size(const char *snap, const char *name, long size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", snap, name);
    assert_int_equal(truncate(path, size), 0);
}

static void resize(const char *snap, const char *name, long delta)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", snap, name);
    assert_int_equal(stat(path, &st), 0);
    set_size(snap, name, st.st_size + delta);
}

static void expect(const char *msg, const char *snap, const char *file, const char *what)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s: ", snap, file);
    if (strncmp(msg, prefix, strlen(prefix)) || !strstr(msg, what))
        fail_msg("message '%s' lacks '%s' or '%s'", msg, prefix, what);
}

static void bad_state_file(void **state)
{
    struct fixture *f = *state;
    small_snapshot(f->snap);

    resize(f->snap, "state", -1);
    expect(open_error(f->snap), f->snap, "state", "truncated");
    resize(f->snap, "state", 1);            /* a zero where the checksum's last byte was */
    expect(open_error(f->snap), f->snap, "state", "checksum mismatch");
    resize(f->snap, "state", 1);
    expect(open_error(f->snap), f->snap, "state", "trailing bytes");
    set_size(f->snap, "state", 20);
    expect(open_error(f->snap), f->snap, "state", "truncated");

    char other[160];
    snprintf(other, sizeof other, "%s/b", f->dir);
    small_snapshot(other);
    patch(other, "state", 40, "X", 1);      /* in the stream */
    expect(open_error(other), other, "state", "checksum mismatch");
    patch(other, "state", 0, "QEMUSNAP", 8);
    expect(open_error(other), other, "state", "bad magic");
    patch(other, "state", 0, "KVMBOXSN\x02\0\0\0", 12);
    expect(open_error(other), other, "state", "written by a newer kvmbox");
    /* A huge announced size is refused before anything is allocated. */
    patch(other, "state", 8, "\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f", 16);
    expect(open_error(other), other, "state", "more than the limit");
    assert_false(temp_left(f->dir));
}

static void bad_memory_file(void **state)
{
    struct fixture *f = *state;
    char err[512], path[256];
    small_snapshot(f->snap);

    /* Guest RAM of another size than the snapshot's. */
    struct snapshot s;
    struct guest_mem m;
    assert_int_equal(snapshot_open(f->snap, &s, err, sizeof err), 0);
    assert_int_equal(guest_mem_init(&m, 8 * MIB, err, sizeof err), 0);
    assert_int_equal(snapshot_load_memory(&s, &m, SNAPSHOT_MEMORY_COPY, err, sizeof err), -1);
    assert_non_null(strstr(err, "/memory holds 4194304 bytes of guest RAM, the VM has 8388608"));
    assert_int_equal(snapshot_load_memory(&s, &m, SNAPSHOT_MEMORY_ONDEMAND, err, sizeof err), -1);
    assert_false(m.file_mapped);
    guest_mem_destroy(&m);
    snapshot_close(&s);

    resize(f->snap, "memory", -(long)PAGE);
    expect(open_error(f->snap), f->snap, "memory", "the state file says 4194304");
    snprintf(path, sizeof path, "%s/memory", f->snap);
    assert_int_equal(unlink(path), 0);
    expect(open_error(f->snap), f->snap, "memory", "missing");
    snprintf(path, sizeof path, "%s/config.json", f->snap);
    assert_int_equal(unlink(path), 0);
    expect(open_error(f->snap), f->snap, "config.json", "missing");
    assert_non_null(strstr(open_error(f->dir), "missing"));
    snprintf(path, sizeof path, "%s/nothing", f->dir);
    assert_non_null(strstr(open_error(path), "no such snapshot directory"));
}

/* The header parser on its own: the smallest valid file, and fields that
 * must be refused. */
static void parse_state(void **state)
{
    (void)state;
    uint8_t b[SNAPSHOT_STATE_HEADER + 4] = "KVMBOXSN\x01";
    b[25] = 0x10;                            /* memory: 4 KiB */
    uint32_t sum = crc32c(0, b, SNAPSHOT_STATE_HEADER);
    memcpy(b + SNAPSHOT_STATE_HEADER, &sum, 4);
    const void *p;
    size_t n;
    uint64_t mem;
    char err[256];
    assert_int_equal(snapshot_parse_state(b, sizeof b, &p, &n, &mem, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(mem, 4096);
    assert_ptr_equal(p, b + SNAPSHOT_STATE_HEADER);
    for (size_t len = 0; len < sizeof b; len++)
        assert_int_equal(snapshot_parse_state(b, len, &p, &n, &mem, err, sizeof err), -1);
    b[12] = 1;                               /* reserved */
    assert_int_equal(snapshot_parse_state(b, sizeof b, &p, &n, &mem, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupted header"));
    b[12] = 0;
    b[8] = 0;                                /* version 0 */
    assert_int_equal(snapshot_parse_state(b, sizeof b, &p, &n, &mem, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupted header"));
}

/* An existing snapshot is never written over; an empty directory (made
 * beforehand, as Cloud Hypervisor's users do) is taken. */
static void existing_dir(void **state)
{
    struct fixture *f = *state;
    char err[512] = "", path[256];
    struct snapshot_writer *w;
    small_snapshot(f->snap);
    snprintf(path, sizeof path, "%s/state", f->snap);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(snapshot_begin(f->snap, &w, err, sizeof err), -1);
    assert_null(w);
    assert_non_null(strstr(err, "exists and is not empty"));
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_false(temp_left(f->dir));

    snprintf(path, sizeof path, "%s/empty/", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    small_snapshot(path);
    struct snapshot s;
    assert_int_equal(snapshot_open(path, &s, err, sizeof err), 0);
    snapshot_close(&s);

    snprintf(path, sizeof path, "%s/file", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(snapshot_begin(path, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a directory"));
    assert_int_equal(snapshot_begin("/", &w, err, sizeof err), -1);
    snprintf(path, sizeof path, "%s/no/such/parent", f->dir);
    assert_int_equal(snapshot_begin(path, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create a directory next to"));
}

/* Until commit nothing is at DIR (a crash leaves only the temporary
 * directory); abort removes that; a commit without every part is refused
 * and leaves nothing. */
static void incomplete(void **state)
{
    struct fixture *f = *state;
    char err[512] = "";
    struct snapshot_writer *w;
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 4 * MIB, err, sizeof err), 0);
    assert_int_equal(snapshot_begin(f->snap, &w, err, sizeof err), 0);
    assert_int_equal(snapshot_put_memory(w, &m, err, sizeof err), 0);
    assert_int_equal(snapshot_put_state(w, STATE, sizeof STATE, err, sizeof err), 0);
    assert_false(exists(f->snap));
    assert_true(temp_left(f->dir));
    snapshot_abort(w);
    assert_false(temp_left(f->dir));

    assert_int_equal(snapshot_begin(f->snap, &w, err, sizeof err), 0);
    assert_int_equal(snapshot_put_memory(w, &m, err, sizeof err), 0);
    assert_int_equal(snapshot_put_state(w, STATE, sizeof STATE, err, sizeof err), 0);
    assert_int_equal(snapshot_commit(w, err, sizeof err), -1);
    assert_non_null(strstr(err, "config.json missing"));
    assert_false(exists(f->snap));
    assert_false(temp_left(f->dir));
    snapshot_abort(NULL);
    guest_mem_destroy(&m);
}

/* A full filesystem (a 1 MiB tmpfs): a clear error naming it, no DIR, no
 * temporary directory, and the snapshot already there untouched. */
static void full_disk(void **state)
{
    struct fixture *f = *state;
    char err[512] = "", mnt[160], old[200], snap[200];
    snprintf(mnt, sizeof mnt, "%s/small", f->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
        printf("# skip full_disk: cannot mount a tmpfs here (%s)\n", strerror(errno));
        skip();
    }
    snprintf(old, sizeof old, "%s/old", mnt);
    snprintf(snap, sizeof snap, "%s/new", mnt);
    small_snapshot(old);

    struct guest_mem m, r;
    assert_int_equal(guest_mem_init(&m, 8 * MIB, err, sizeof err), 0);
    for (uint64_t p = 0; p < 2 * MIB; p += PAGE)
        fill_page(&m, p);
    struct snapshot_writer *w;
    assert_int_equal(snapshot_begin(snap, &w, err, sizeof err), 0);
    assert_int_equal(snapshot_put_config(w, CONFIG, strlen(CONFIG), err, sizeof err), 0);
    assert_int_equal(snapshot_put_memory(w, &m, err, sizeof err), -1);
    snapshot_abort(w);
    char want[600];
    snprintf(want, sizeof want, "no space left on tmpfs (the filesystem at %s) writing %s/memory: "
             "the snapshot was not written", mnt, snap);
    assert_string_equal(err, want);
    assert_false(exists(snap));
    assert_false(temp_left(mnt));

    /* The disk full at commit (the state file): one page left, which
     * config.json takes (the memory, all zero, takes none). */
    char filler[200];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    int fd = open(filler, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    static const uint8_t page[PAGE];
    while (write(fd, page, PAGE) == (ssize_t)PAGE)
        ;
    assert_int_equal(ftruncate(fd, lseek(fd, 0, SEEK_CUR) - (off_t)PAGE), 0);
    close(fd);
    struct guest_mem z;
    assert_int_equal(guest_mem_init(&z, 4 * MIB, err, sizeof err), 0);
    assert_int_equal(snapshot_begin(snap, &w, err, sizeof err), 0);
    assert_int_equal(snapshot_put_config(w, CONFIG, strlen(CONFIG), err, sizeof err), 0);
    assert_int_equal(snapshot_put_memory(w, &z, err, sizeof err), 0);
    assert_int_equal(snapshot_put_state(w, STATE, sizeof STATE, err, sizeof err), 0);
    assert_int_equal(snapshot_commit(w, err, sizeof err), -1);
    assert_non_null(strstr(err, "/new/state: the snapshot was not written"));
    assert_non_null(strstr(err, "no space left on tmpfs"));
    assert_false(exists(snap));
    assert_false(temp_left(mnt));
    guest_mem_destroy(&z);

    load(old, &r, 4 * MIB, GUEST_MEM_ANON, SNAPSHOT_MEMORY_COPY);
    struct guest_mem o;
    assert_int_equal(guest_mem_init(&o, 4 * MIB, err, sizeof err), 0);
    fill_page(&o, MIB);
    assert_memory_equal(r.host, o.host, 4 * MIB);
    guest_mem_destroy(&o);
    guest_mem_destroy(&r);
    guest_mem_destroy(&m);
    assert_int_equal(umount(mnt), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_check_value),
        cmocka_unit_test(parse_state),
        cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(two_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(fragmented, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_backing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_memory_file, setup, teardown),
        cmocka_unit_test_setup_teardown(existing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
