/* seccomp_gen: writes the C source of seccomp_programs.h's tables to
 * stdout, each role's filter made with libseccomp from seccomp_filter.c's
 * lists. Run by the build, never installed. */
#include "sandbox/seccomp_filter.h"
#include "sandbox/seccomp_programs.h"

#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    printf("/* Made by seccomp_gen (src/sandbox/seccomp_gen.c): do not edit. */\n"
           "#include \"sandbox/seccomp_programs.h\"\n\n");
    for (int log = 0; log < 2; log++) {
        for (int role = 0; role < SANDBOX_ROLES; role++) {
            struct sock_fprog p;
            char err[256];
            if (seccomp_filter_build(role, log, &p, err, sizeof err) < 0) {
                fprintf(stderr, "seccomp_gen: %s\n", err);
                return 1;
            }
            printf("static const struct sock_filter p%d_%d[] = {\n", log, role);
            for (unsigned i = 0; i < p.len; i++)
                printf("    { 0x%x, %u, %u, 0x%x },\n", p.filter[i].code, p.filter[i].jt,
                       p.filter[i].jf, p.filter[i].k);
            printf("};\n");
            free(p.filter);
        }
    }
    printf("const struct sock_filter *const seccomp_program[2][SANDBOX_ROLES] = {\n");
    for (int log = 0; log < 2; log++) {
        printf("    {");
        for (int role = 0; role < SANDBOX_ROLES; role++)
            printf(" p%d_%d,", log, role);
        printf(" },\n");
    }
    printf("};\nconst unsigned short seccomp_program_len[2][SANDBOX_ROLES] = {\n");
    for (int log = 0; log < 2; log++) {
        printf("    {");
        for (int role = 0; role < SANDBOX_ROLES; role++)
            printf(" sizeof p%d_%d / sizeof p%d_%d[0],", log, role, log, role);
        printf(" },\n");
    }
    printf("};\n");
    printf("const char *const seccomp_call_name[SECCOMP_NAMED_CALLS] = {\n");
    for (int nr = 0; nr < SECCOMP_NAMED_CALLS; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name)
            printf("    [%d] = \"%s\",\n", nr, name);
        free(name);
    }
    printf("};\n");
    return 0;
}
