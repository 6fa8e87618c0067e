/* `kvmbox run` option parsing, sizes and the CPUID filter list. */
#include "fake_host.h"

#include "cli/options.h"
#include "util/size.h"

#include <linux/kvm.h>

static enum options_result parse(struct vm_config *cfg, char *err, ...)
{
    char *argv[32] = { "run" };
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    static char buf[4096];
    return options_parse_run(argc, argv, cfg, buf, sizeof buf, err, 256);
}

static void sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_size("512M", &v), 0);
    assert_int_equal(v, 512ULL << 20);
    assert_int_equal(parse_size("4g", &v), 0);
    assert_int_equal(v, 4ULL << 30);
    assert_int_equal(parse_size("64GiB", &v), 0);
    assert_int_equal(v, 64ULL << 30);
    assert_int_equal(parse_size("1K", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(parse_size("", &v), -1);
    assert_int_equal(parse_size("M", &v), -1);
    assert_int_equal(parse_size("-1M", &v), -1);
    assert_int_equal(parse_size("12Q", &v), -1);
    assert_int_equal(parse_size("1MX", &v), -1);
    assert_int_equal(parse_size("99999999999999999999", &v), -1);
    assert_int_equal(parse_size("17179869184G", &v), -1);  /* 2^64: overflows */
}

static void defaults_and_values(void **state)
{
    (void)state;
    struct vm_config c;
    char err[256];
    assert_int_equal(parse(&c, err, "--kernel", "k", NULL), OPTIONS_RUN);
    assert_string_equal(c.kernel, "k");
    assert_int_equal(c.mem_size, 512ULL << 20);
    assert_int_equal(c.cpus, 1);
    assert_null(c.cmdline);
    assert_false(c.debug_exit);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "64G", "--cmdline", "a b",
                           "--debug-exit", "-v", "--initrd", "x,y,z", "--cpus", "1", NULL),
                     OPTIONS_RUN);
    assert_int_equal(c.mem_size, 64ULL << 30);
    assert_string_equal(c.cmdline, "a b");
    assert_true(c.debug_exit);
    assert_true(c.verbose);
    assert_int_equal(c.ninitrds, 3);
    assert_string_equal(c.initrds[2], "z");
    /* A bare number is MiB, as with QEMU's -m. */
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "256", NULL), OPTIONS_RUN);
    assert_int_equal(c.mem_size, 256ULL << 20);
    assert_int_equal(parse(&c, err, "--kernel=k", "--memory=1G", NULL), OPTIONS_RUN);
    assert_int_equal(c.mem_size, 1ULL << 30);
}

static void errors(void **state)
{
    (void)state;
    struct vm_config c;
    char err[256];
    assert_int_equal(parse(&c, err, NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "--kernel is required"));
    assert_int_equal(parse(&c, err, "--kernel", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--bogus", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "stray", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "stray"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "lots", NULL), OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "1M", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "too small"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "2T", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--memory", "5001K", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "multiple of 4K"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpus", "0", NULL), OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpus", "256", NULL), OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpus", "2x", NULL), OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpus", "255", NULL), OPTIONS_RUN);
    assert_int_equal(c.cpus, 255);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--initrd", ",", NULL), OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpu-filter", "avx,nope", NULL),
                     OPTIONS_ERROR);
    assert_non_null(strstr(err, "'nope'"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpu-filter", "avx,,sse3", NULL),
                     OPTIONS_ERROR);
    assert_int_equal(parse(&c, err, "--help", NULL), OPTIONS_HELP);
    assert_int_equal(parse(&c, err, "--version", NULL), OPTIONS_VERSION);
}

static void device_options(void **state)
{
    (void)state;
    struct vm_config c;
    char err[256];
    assert_int_equal(parse(&c, err, "--kernel", "k", "--net", "tap=tap0,mac=52:54:00:ab:cd:ef",
                           "--net", "user,hostfwd=tcp::2222-:22,restrict=on,hostfwd=udp:127.0.0.1:5353-10.0.2.9:53",
                           "--console", "virtio", "--disk", "d.img,readonly=on", NULL),
                     OPTIONS_RUN);
    assert_int_equal(c.nnets, 2);
    assert_int_equal(c.nets[0].kind, NET_TAP);
    assert_string_equal(c.nets[0].ifname, "tap0");
    assert_true(c.nets[0].has_mac);
    assert_int_equal(c.nets[0].mac[5], 0xef);
    assert_int_equal(c.nets[1].kind, NET_USER);
    assert_false(c.nets[1].has_mac);
    assert_true(c.nets[1].restricted);
    assert_false(c.nets[0].restricted);
    assert_int_equal(c.nets[1].nfwd, 2);
    assert_false(c.nets[1].fwd[0].udp);
    assert_int_equal(c.nets[1].fwd[0].host_port, 2222);
    assert_int_equal(c.nets[1].fwd[0].guest_port, 22);
    assert_int_equal(c.nets[1].fwd[0].host_addr.s_addr, INADDR_ANY);
    assert_true(c.nets[1].fwd[1].udp);
    assert_int_equal(c.nets[1].fwd[1].host_addr.s_addr, htonl(0x7f000001));
    assert_int_equal(c.nets[1].fwd[1].guest_addr.s_addr, htonl(0x0a000209));
    assert_int_equal(c.console, CONSOLE_VIRTIO);
    assert_int_equal(c.ndisks, 1);
    assert_true(c.disks[0].readonly);
    assert_string_equal(c.disks[0].path, "d.img");

    static const char *const bad[][2] = {
        { "--net", "" }, { "--net", "bridge=br0" }, { "--net", "tap=" },
        { "--net", "tap=a-name-that-is-too-long" }, { "--net", "user,mac=01:02:03:04:05:06" },
        { "--net", "user,mac=52:54:00:12:34" }, { "--net", "user,mac=52:54:00:12:34:567" },
        { "--net", "user,hostfwd=tcp::0-:22" }, { "--net", "user,hostfwd=tcp::70000-:22" },
        { "--net", "user,hostfwd=sctp::1-:2" }, { "--net", "user,hostfwd=tcp::1:2" },
        { "--net", "user,hostfwd=tcp:300.1.1.1:1-:2" }, { "--net", "tap=t0,hostfwd=tcp::1-:2" },
        { "--net", "tap=t0,restrict=on" }, { "--net", "user,restrict=maybe" },
        { "--net", "user,speed=10" }, { "--console", "vga" }, { "--disk", "x,readonly=yes" },
        { "--disk", "readonly=on" }, { "--disk", "x,cache=none" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (parse(&c, err, "--kernel", "k", bad[i][0], bad[i][1], NULL) != OPTIONS_ERROR)
            fail_msg("%s '%s' was accepted", bad[i][0], bad[i][1]);
        assert_true(strlen(err) > 0);
    }
    /* At most four NICs. */
    assert_int_equal(parse(&c, err, "--kernel", "k", "--net", "user", "--net", "user", "--net",
                           "user", "--net", "user", "--net", "user", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "at most 4"));
}

static int feature_index(const char *name)
{
    for (unsigned i = 0; cpu_feature_name(i); i++)
        if (!strcmp(cpu_feature_name(i), name))
            return (int)i;
    return -1;
}

static void cpu_filter_dependencies(void **state)
{
    (void)state;
    struct cpu_filter f;
    char err[256];
    assert_int_equal(cpu_filter_parse("xsave", &f, err, sizeof err), 0);
    /* Hiding XSAVE hides everything that needs it to save its state. */
    assert_true(f.hide[feature_index("xsave")]);
    assert_true(f.hide[feature_index("avx")]);
    assert_true(f.hide[feature_index("avx2")]);
    assert_true(f.hide[feature_index("fma")]);
    assert_true(f.hide[feature_index("avx512f")]);
    assert_true(f.hide[feature_index("xsaves")]);
    assert_false(f.hide[feature_index("cx16")]);
    assert_int_equal(cpu_filter_parse("cx16", &f, err, sizeof err), 0);
    assert_true(f.hide[feature_index("cx16")]);
    assert_false(f.hide[feature_index("avx")]);
}

static void cpuid_filter_applies(void **state)
{
    (void)state;
    struct {
        struct kvm_cpuid2 c;
        struct kvm_cpuid_entry2 e[4];
    } t = { 0 };
    t.c.nent = 4;
    t.e[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0xffffffffu & ~(1u << 31),
                                         .edx = 0xffffffffu, .ebx = 0x00010800 };
    t.e[1] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
                                         .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                         .ebx = 0xffffffffu };
    t.e[2] = (struct kvm_cpuid_entry2){ .function = 7, .index = 1,
                                         .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                         .ebx = 0xffffffffu };
    t.e[3] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001 };
    struct cpu_filter f;
    char err[64];
    assert_int_equal(cpu_filter_parse("cx16,avx2", &f, err, sizeof err), 0);
    cpuid_apply(&t.c, &f);
    assert_int_equal(t.e[0].ecx & (1u << 13), 0);       /* cx16 gone */
    assert_int_not_equal(t.e[0].ecx & (1u << 31), 0);   /* hypervisor bit set */
    assert_int_equal(t.e[1].ebx & (1u << 5), 0);        /* avx2 gone from 7.0 */
    assert_int_equal(t.e[2].ebx, 0xffffffffu);          /* 7.1 untouched */
    assert_memory_equal(&t.e[3].ebx, "KVMKVMKVM\0\0\0", 12);
    cpuid_set_topology(&t.c, 5, 8);
    assert_int_equal(t.e[0].ebx >> 24, 5);
    assert_int_equal((t.e[0].ebx >> 16) & 0xff, 8);   /* logical processors */
    assert_int_equal(t.e[0].ebx & 0xffff, 0x0800);
    assert_true(t.e[0].edx & (1u << 28));              /* HTT: more than one */
}

/* The timing leaf is appended once, carries the TSC and LAPIC bus rates,
 * and the signature leaf's maximum grows to reach it. */
static void cpuid_timing_leaf(void **state)
{
    (void)state;
    struct {
        struct kvm_cpuid2 c;
        struct kvm_cpuid_entry2 e[3];
    } t = { 0 };
    t.c.nent = 2;
    t.e[0] = (struct kvm_cpuid_entry2){ .function = 1 };
    t.e[1] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001 };
    cpuid_add_timing(&t.c, 0);
    assert_int_equal(t.c.nent, 2);                     /* no rate: no leaf */
    cpuid_add_timing(&t.c, 2600000);
    assert_int_equal(t.c.nent, 3);
    assert_int_equal(t.e[2].function, 0x40000010);
    assert_int_equal(t.e[2].eax, 2600000);
    assert_int_equal(t.e[2].ebx, 1000000);
    assert_int_equal(t.e[1].eax, 0x40000010);
    cpuid_add_timing(&t.c, 3000000);                   /* updates in place */
    assert_int_equal(t.c.nent, 3);
    assert_int_equal(t.e[2].eax, 3000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes),
        cmocka_unit_test(defaults_and_values),
        cmocka_unit_test(errors),
        cmocka_unit_test(device_options),
        cmocka_unit_test(cpu_filter_dependencies),
        cmocka_unit_test(cpuid_filter_applies),
        cmocka_unit_test(cpuid_timing_leaf),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
