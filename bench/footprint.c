/* See footprint.h. */
#include "footprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mem_use(pid_t pid, unsigned ram_mib, struct mem_use *m)
{
    char path[64], line[512];
    *m = (struct mem_use){ -1, 0, 0 };
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            m->hwm = atol(line + 6);
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    int is_ram = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        char c;
        /* A mapping's header line: "start-end perms ...". */
        if (sscanf(line, "%lx-%lx %c", &start, &end, &c) == 3)
            is_ram = end - start >= (unsigned long)ram_mib << 20;
        else if (is_ram && !strncmp(line, "Rss:", 4))
            m->ram += atol(line + 4);
        else if (is_ram && (!strncmp(line, "AnonHugePages:", 14) ||
                            !strncmp(line, "ShmemPmdMapped:", 15)))
            m->huge += atol(strchr(line, ':') + 1);
    }
    fclose(f);
    return m->hwm < 0 ? -1 : 0;
}
