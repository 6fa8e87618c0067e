/* Opening and reading the files a user names (util/file.c): a file that
 * changes while it is read is an error and never a SIGBUS, the kernel is
 * one snapshot, a FIFO or a device is refused without blocking, and an
 * empty file is never handed to memcpy as NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/kvmbox-test-file-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes `size` bytes of a pattern to dir/name; returns the path. */
static const char *make_file(const char *name, size_t size)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++)
        fputc((int)(i * 7 % 251), f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Issue 10 item 3: shrinking after open was a SIGBUS through the mapping. */
static void shrink_while_reading(void **state)
{
    (void)state;
    const char *path = make_file("shrinks", 1 << 20);
    struct input_file f;
    char err[256];
    assert_int_equal(input_open(&f, path, err, sizeof err), 0);
    assert_int_equal(f.size, 1 << 20);
    assert_int_equal(truncate(path, 4096), 0);
    uint8_t *buf = malloc(f.size);
    assert_int_equal(input_copy(&f, buf, err, sizeof err), -1);
    assert_non_null(strstr(err, "changed while being read"));
    assert_non_null(strstr(err, path));
    input_close(&f);
    free(buf);
}

static void grow_while_reading(void **state)
{
    (void)state;
    const char *path = make_file("grows", 10000);
    struct input_file f;
    char err[256];
    assert_int_equal(input_open(&f, path, err, sizeof err), 0);
    assert_int_equal(truncate(path, 20000), 0);
    uint8_t buf[10000];
    assert_int_equal(input_copy(&f, buf, err, sizeof err), -1);
    assert_non_null(strstr(err, "changed while being read"));
    input_close(&f);
}

/* Item 4's root: detection and loading look at one snapshot, whatever
 * happens to the file afterwards. */
static void kernel_is_one_snapshot(void **state)
{
    (void)state;
    const char *path = make_file("kernel", 8192);
    struct input_file f;
    char err[256];
    assert_int_equal(input_read_whole(&f, path, err, sizeof err), 0);
    assert_false(f.open);
    assert_int_equal(f.size, 8192);
    uint8_t before[8192];
    memcpy(before, f.data, sizeof before);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static const uint8_t junk[4096] = { 0xff };
    assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    assert_int_equal(ftruncate(fd, 100), 0);
    close(fd);
    assert_memory_equal(f.data, before, sizeof before);
    uint8_t copy[8192];
    assert_int_equal(input_copy(&f, copy, err, sizeof err), 0);
    assert_memory_equal(copy, before, sizeof before);
    input_close(&f);
    assert_null(f.data);
}

/* Item 6: a FIFO without a writer hung open() forever. Each of these
 * returns at once (a hang fails the test by its time limit). */
static void fifo_and_devices_refused(void **state)
{
    (void)state;
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char err[256];
    errno = 0;
    assert_int_equal(file_open_checked(fifo, O_RDONLY, err, sizeof err), -1);
    assert_int_equal(errno, ENODEV);
    assert_string_equal(err, "not a regular file or block device");
    assert_int_equal(file_open_checked(fifo, O_RDWR, err, sizeof err), -1);
    assert_int_equal(file_open_checked("/dev/null", O_RDONLY, err, sizeof err), -1);
    assert_int_equal(file_open_checked(dir, O_RDONLY, err, sizeof err), -1);
    assert_int_equal(errno, ENODEV);
    assert_int_equal(file_open_checked("/nonexistent/x", O_RDONLY, err, sizeof err), -1);
    assert_int_equal(errno, ENOENT);

    struct input_file f;
    assert_int_equal(input_open(&f, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file or block device"));
    assert_non_null(strstr(err, fifo));
    input_close(&f);
    assert_int_equal(input_read_whole(&f, fifo, err, sizeof err), -1);
    input_close(&f);
    assert_int_equal(input_open(&f, "/nonexistent/x", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open '/nonexistent/x'"));

    /* A regular file opens, and in blocking mode. */
    const char *path = make_file("regular", 10);
    int fd = file_open_checked(path, O_RDONLY, err, sizeof err);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

/* Item 8: an empty file reads as zero bytes, with no memcpy from NULL. */
static void empty_file(void **state)
{
    (void)state;
    const char *path = make_file("empty", 0);
    struct input_file f;
    char err[256];
    assert_int_equal(input_open(&f, path, err, sizeof err), 0);
    assert_int_equal(f.size, 0);
    assert_int_equal(input_copy(&f, NULL, err, sizeof err), 0);
    input_close(&f);
    assert_int_equal(input_read_whole(&f, path, err, sizeof err), 0);
    assert_non_null(f.data);
    assert_int_equal(input_copy(&f, NULL, err, sizeof err), 0);
    input_close(&f);
    /* The zero value (what a test or an unopened slot holds) too. */
    struct input_file none = { 0 };
    assert_int_equal(input_copy(&none, NULL, err, sizeof err), 0);
    input_close(&none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shrink_while_reading),
        cmocka_unit_test(grow_while_reading),
        cmocka_unit_test(kernel_is_one_snapshot),
        cmocka_unit_test(fifo_and_devices_refused),
        cmocka_unit_test(empty_file),
    };
    return cmocka_run_group_tests_name("input_file", tests, setup, teardown);
}
