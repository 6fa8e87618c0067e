#include "util/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool usable_type(mode_t mode)
{
    return S_ISREG(mode) || S_ISBLK(mode);
}

/* The message for err, with errno kept for the caller (snprintf may set it). */
static int fail_errno(int e, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", log_strerror(e));
    errno = e;
    return -1;
}

static int refuse_type(char *err, size_t errlen)
{
    snprintf(err, errlen, "not a regular file or block device");
    errno = ENODEV;
    return -1;
}

int file_open_checked(const char *path, int flags, char *err, size_t errlen)
{
    struct stat st;
    /* Look before opening: opening a FIFO or some character devices
     * blocks or has side effects (a tape rewinds, a watchdog arms). */
    if (stat(path, &st) < 0)
        return fail_errno(errno, err, errlen);
    if (!usable_type(st.st_mode))
        return refuse_type(err, errlen);
    /* O_NONBLOCK: if the path became a FIFO since, the open still returns. */
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(errno, err, errlen);
    if (fstat(fd, &st) < 0 || !usable_type(st.st_mode)) {
        bool wrong_type = !usable_type(st.st_mode);
        int saved = errno;
        close(fd);
        return wrong_type ? refuse_type(err, errlen) : fail_errno(saved, err, errlen);
    }
    /* Blocking from here on, as every reader and io_uring expect. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        return fail_errno(saved, err, errlen);
    }
    return fd;
}

int input_open(struct input_file *f, const char *path, char *err, size_t errlen)
{
    char why[128];
    int fd = file_open_checked(path, O_RDONLY, why, sizeof why);
    if (fd < 0) {
        memset(f, 0, sizeof *f);
        f->fd = -1;
        snprintf(err, errlen, "cannot open '%s': %s", path, why);
        return -1;
    }
    return input_open_fd(f, path, fd, err, errlen);
}

int input_open_fd(struct input_file *f, const char *path, int fd, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->fd = -1;
    /* SEEK_END gives a block device's size too (st_size is 0 there). */
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        snprintf(err, errlen, "cannot read '%s': %s", path, log_strerror(errno));
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->open = true;
    f->size = (size_t)end;
    return 0;
}

int input_read_whole(struct input_file *f, const char *path, char *err, size_t errlen)
{
    return input_open(f, path, err, errlen) < 0 ? -1 : input_load(f, err, errlen);
}

int input_load(struct input_file *f, char *err, size_t errlen)
{
    const char *path = f->path;
    /* Never NULL, even for an empty file: callers may hand it to memcpy. */
    uint8_t *buf = malloc(f->size ? f->size : 1);
    if (!buf) {
        snprintf(err, errlen, "'%s' (%zu bytes) does not fit in memory", path, f->size);
        input_close(f);
        return -1;
    }
    if (input_copy(f, buf, err, errlen) < 0) {
        free(buf);
        input_close(f);
        return -1;
    }
    close(f->fd);
    f->fd = -1;
    f->open = false;
    f->data = buf;
    f->owns_data = true;
    return 0;
}

static int changed(const struct input_file *f, const char *how, char *err, size_t errlen)
{
    snprintf(err, errlen, "'%s' changed while being read (%s than the %zu bytes it had)",
             f->path, how, f->size);
    return -1;
}

int input_copy(const struct input_file *f, void *dst, char *err, size_t errlen)
{
    if (f->size == 0)
        return 0;  /* dst and data may both be NULL: no memcpy */
    if (f->data) {
        memcpy(dst, f->data, f->size);
        return 0;
    }
    if (!f->open) {
        snprintf(err, errlen, "'%s' is not open", f->path);
        return -1;
    }
    uint8_t *p = dst;
    size_t done = 0;
    while (done < f->size) {
        ssize_t n = pread(f->fd, p + done, f->size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot read '%s': %s", f->path, log_strerror(errno));
            return -1;
        }
        if (n == 0)
            return changed(f, "now shorter", err, errlen);
        done += (size_t)n;
    }
    /* A file that grew would be loaded cut short: just as wrong. */
    uint8_t extra;
    ssize_t n;
    do
        n = pread(f->fd, &extra, 1, (off_t)done);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return changed(f, "now longer", err, errlen);
    return 0;
}

void input_close(struct input_file *f)
{
    if (f->open)
        close(f->fd);
    if (f->owns_data)
        free((void *)f->data);
    f->data = NULL;
    f->size = 0;
    f->fd = -1;
    f->open = false;
    f->owns_data = false;
}

int file_data_extent(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
    if (off >= size)
        return 1;
    *start = off;
    *end = size;
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0)
        return errno == ENXIO ? 1 : 0;
    off_t h = lseek(fd, d, SEEK_HOLE);
    *start = (uint64_t)d;
    if (h > d && (uint64_t)h < size)
        *end = (uint64_t)h;
    return *start >= size;
}
