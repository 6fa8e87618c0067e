/* libFuzzer target: virtio-blk requests. The input is split into buffers
 * (readable, then writable) that form one chain; the parser must accept or
 * refuse it safely, and the device serves it against a small disk file. */
#include "devices/virtio/blk.h"
#include "devices/virtio/blk_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct blk *disk;
    static struct virtq_chain c;
    static struct blk_request r;
    static uint8_t bufs[VIRTQ_MAX_SEGS][512];
    if (!disk) {
        char path[] = "/tmp/kvmbox-fuzz-blk-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
            abort();
        close(fd);
        struct disk_config cfg = { 0 };
        snprintf(cfg.path, sizeof cfg.path, "%s", path);
        snprintf(cfg.serial, sizeof cfg.serial, "FUZZ");
        disk = blk_open(&cfg, -1);
        unlink(path);
        if (!disk)
            abort();
    }
    if (size < 2)
        return 0;
    /* Byte 0: how many readable buffers; byte 1: how many writable. Each
     * buffer then takes a length byte (x 2 + 1) and that many input bytes. */
    unsigned nout = data[0] % 8, nin = data[1] % 8;
    data += 2, size -= 2;
    memset(&c, 0, sizeof c);
    for (unsigned i = 0; i < nout + nin && size; i++) {
        size_t len = (size_t)data[0] * 2 + 1;
        data++, size--;
        if (len > sizeof bufs[i])
            len = sizeof bufs[i];
        size_t have = len < size ? len : size;
        memset(bufs[i], 0, len);
        memcpy(bufs[i], data, have);
        data += have, size -= have;
        struct iovec *v = i < nout ? &c.out[c.nout++] : &c.in[c.nin++];
        *v = (struct iovec){ bufs[i], len };
        if (i < nout)
            c.out_len += len;
        else
            c.in_len += len;
    }
    enum blk_parse p = blk_parse_request(&c, 128, false, &r);
    if (p == BLK_PARSE_OK && r.data_len > c.out_len + c.in_len)
        abort();
    uint32_t written = blk_serve(disk, &c);
    if (written > c.in_len)
        abort();                     /* more than the driver gave */
    return 0;
}
