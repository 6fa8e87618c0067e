/* A migration's CPU check: a guest whose features the host offers passes
 * (the OS-set bits, OSXSAVE and OSPKE, do not count), one with a feature
 * the host lacks is refused with the leaf, register and bit named, and a
 * leaf the guest does not have is not asked of the host. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/cpuid_compat.h"

#include <string.h>

static void check(void **state)
{
    (void)state;
    struct kvm_cpuid_entry2 host[2] = {
        { .function = 1, .ecx = 0x00000201, .edx = 0x178bfbff },
        { .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 0x9 },
    };
    struct kvm_cpuid_entry2 guest[2];
    memcpy(guest, host, sizeof guest);
    char err[256] = "";
    assert_int_equal(cpuid_check_compatible(guest, 2, host, 2, err, sizeof err), 0);
    guest[0].ecx |= 1u << 27;                         /* OSXSAVE: the guest OS's doing */
    assert_int_equal(cpuid_check_compatible(guest, 2, host, 2, err, sizeof err), 0);
    guest[1].ebx |= 1u << 16;                         /* AVX512F, which the host lacks */
    assert_int_equal(cpuid_check_compatible(guest, 2, host, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "leaf 0x7.0 EBX bit 16"));
    /* Only leaf 1 in the guest: leaf 7 is not asked for. */
    assert_int_equal(cpuid_check_compatible(guest, 1, host, 2, err, sizeof err), 0);
    /* A host without leaf 7 at all cannot take a guest that uses it. */
    guest[1].ebx = 0x1;
    assert_int_equal(cpuid_check_compatible(guest, 2, host, 1, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(check) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
