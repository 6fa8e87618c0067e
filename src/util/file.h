/* Read-only views of input files (kernels, initrds), mapped rather than
 * copied so that each byte is read once, straight into guest memory. */
#ifndef KVMBOX_UTIL_FILE_H
#define KVMBOX_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

struct mapped_file {
    const char *path;
    const uint8_t *data;
    size_t size;
};

/* Returns 0, or -1 with a message naming the file and the problem in err. */
int file_map(struct mapped_file *f, const char *path, char *err, size_t errlen);
void file_unmap(struct mapped_file *f);

#endif
