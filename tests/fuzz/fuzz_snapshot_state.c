/* libFuzzer target: a snapshot's state file (src/migration/snapshot_dir.c,
 * snapshot_parse_state), the first thing restore believes of a snapshot.
 * Input: a mode byte, then the file. Mode bit 0 set: the file's last four
 * bytes are replaced by the right CRC-32C first, so that the fuzzer gets
 * past the checksum to the fields checked after it. The file is handed
 * over in a buffer of exactly its size, so ASan sees any read past it. An
 * acceptance must hand out a stream that lies within the file and a memory
 * size a guest can have; a refusal, one non-empty message. */
#include "migration/snapshot_dir.h"
#include "util/crc32c.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool fix_sum = data[0] & 1;
    size_t len = size - 1;
    uint8_t *file = malloc(len ? len : 1);
    if (!file)
        return 0;
    memcpy(file, data + 1, len);
    if (fix_sum && len >= 4) {
        uint32_t sum = crc32c(0, file, len - 4);
        for (int i = 0; i < 4; i++)
            file[len - 4 + i] = (uint8_t)(sum >> (8 * i));
    }
    const void *payload = NULL;
    size_t plen = 0;
    uint64_t mem = 0;
    char err[256] = "";
    if (snapshot_parse_state(file, len, &payload, &plen, &mem, err, sizeof err) == 0) {
        const uint8_t *p = payload;
        if (p != file + SNAPSHOT_STATE_HEADER || plen + SNAPSHOT_STATE_HEADER + 4 != len ||
            plen > SNAPSHOT_STATE_MAX || mem == 0 || mem % 4096)
            abort();
        /* Every byte of the stream readable (ASan checks). */
        volatile uint8_t x = 0;
        for (size_t i = 0; i < plen; i++)
            x ^= p[i];
        (void)x;
    } else if (!err[0] || !memchr(err, 0, sizeof err)) {
        abort();
    }
    free(file);
    return 0;
}
