/* Growing a heap byte buffer by doubling: shared by the writers that build
 * a byte stream of unknown length (the state model, the AML encoder). */
#ifndef KVMBOX_UTIL_GROW_H
#define KVMBOX_UTIL_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Makes *buf hold at least `need` bytes (contents kept). Returns false,
 * leaving *buf as it was, if memory runs out. */
bool grow_to(uint8_t **buf, size_t *cap, size_t need);

#endif
