/* Opening the files a user names (kernel, initrds, disks) safely, and
 * reading kernels and initrds without trusting them to hold still.
 *
 * Inputs are read with pread(), never mapped: a mapped file that shrinks
 * under kvmbox turns the next access into SIGBUS, and a file rewritten in
 * place changes a mapping's bytes between two looks at them. The kernel is
 * read once into memory (every check and every copy then sees the same
 * bytes); initrds and modules are read once, straight into guest RAM. */
#ifndef KVMBOX_UTIL_FILE_H
#define KVMBOX_UTIL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens `path` with `flags` (O_RDONLY or O_RDWR, maybe O_DIRECT; O_CLOEXEC
 * is added) if it is a regular file or a block device, and never blocks
 * doing so: a FIFO or a device is refused before it is opened (opening a
 * FIFO without a writer waits forever) and, against a swap between that
 * look and the open, the open itself is non-blocking and checked again.
 * Returns the fd (blocking mode), or -1 with errno set and a message
 * without the path in err: strerror's, or "not a regular file or block
 * device" (errno ENODEV). */
int file_open_checked(const char *path, int flags, char *err, size_t errlen);

/* A kernel, initrd or module. Either `data` holds the contents (the kernel
 * after input_read_whole, or a test's bytes) or, when `open`, `fd` is read
 * on demand. `size` is fixed when the file is opened. The zero value is a
 * valid closed file. */
struct input_file {
    const char *path;
    const uint8_t *data;
    size_t size;
    int fd;
    bool open;        /* fd is ours to read and close */
    bool owns_data;   /* data is ours to free */
};

/* Opens `path` for reading and takes its size. Returns 0, or -1 with a
 * message naming the file in err. */
int input_open(struct input_file *f, const char *path, char *err, size_t errlen);
/* The same on fd, path's, opened already (taken, even on failure; read
 * with pread only, so a dup of a descriptor kept elsewhere will do). */
int input_open_fd(struct input_file *f, const char *path, int fd, char *err, size_t errlen);
/* input_open, then input_load. */
int input_read_whole(struct input_file *f, const char *path, char *err, size_t errlen);
/* The opened file's whole contents into memory (f->data), the fd closed:
 * one snapshot that detection and loading share. */
int input_load(struct input_file *f, char *err, size_t errlen);
/* Copies exactly f->size bytes to dst (nothing at all for an empty file).
 * A file that is no longer f->size bytes long is an error ("changed while
 * being read"), never a crash. */
int input_copy(const struct input_file *f, void *dst, char *err, size_t errlen);
void input_close(struct input_file *f);

/* The first extent of file data at or after off, within [0, size): 0
 * with [*start, *end), or 1 when only holes are left. Where the filesystem
 * cannot tell (no SEEK_DATA; hugetlbfs reports all of it as data), the
 * rest is one extent. */
int file_data_extent(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end);

#endif
