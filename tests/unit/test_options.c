/* `kvmbox run` option parsing, sizes and the CPUID filter list. */
#include "fake_host.h"

#include "cli/options.h"
#include "util/size.h"
#include "vmm/cpuid.h"

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

/* Each malformed command line is refused with a message naming the
 * option, the bad value and what is expected. Every line starts with
 * "--kernel k". */
static void strict_errors(void **state)
{
    (void)state;
    static const struct { const char *args[6]; const char *msg; } cases[] = {
        /* --cpus: plain decimal only */
        { { "--cpus", "2x" }, "--cpus '2x': expected a decimal number from 1 to 255" },
        { { "--cpus", "0x2" }, "--cpus '0x2': expected a decimal" },
        { { "--cpus", " 2" }, "--cpus ' 2': expected" },
        { { "--cpus", "2 " }, "--cpus '2 ': expected" },
        { { "--cpus", "+2" }, "--cpus '+2': expected" },
        { { "--cpus", "-1" }, "--cpus '-1': expected" },
        { { "--cpus", "0" }, "from 1 to 255" },
        { { "--cpus", "4294967297" }, "--cpus '4294967297'" },
        { { "--cpus", "99999999999999999999999" }, "from 1 to 255" },
        { { "--cpus", "" }, "--cpus '': empty value (expected N)" },
        /* --memory */
        { { "--memory", "1.5G" }, "--memory '1.5G' is not a size: expected a whole number" },
        { { "--memory", " 512M" }, "--memory ' 512M' is not a size" },
        { { "--memory", "0x200" }, "is not a size" },
        { { "--memory", "-512M" }, "is not a size" },
        { { "--memory", "" }, "--memory '': empty value (expected SIZE" },
        { { "--memory", "512M," }, "--memory '512M,': empty item" },
        /* --api-socket: PATH, path=PATH or fd=N */
        { { "--api-socket", "fd=x" }, "--api-socket 'fd=x': fd= takes a file descriptor number" },
        { { "--api-socket", "fd=2" }, "3 or more" },
        { { "--api-socket", "fd=" }, "fd= takes" },
        { { "--api-socket", "path=" }, "expected PATH, path=PATH or fd=N" },
        { { "--api-socket", "a,b" }, "expected PATH" },
        { { "--event-monitor", "events.log" }, "--event-monitor 'events.log': expected path=PATH or fd=N" },
        { { "--event-monitor", "fd=1" }, "3 or more" },
        { { "--memory", "512M,size=1G" }, "--memory '512M,size=1G': the size is given twice" },
        { { "--memory", "1G,shared=on,shared=off" }, "shared= given twice" },
        { { "--memory", "shared=on,512M" }, "unexpected '512M'" },
        /* MAC: six two-hex-digit groups separated by ':', unicast, not zero */
        { { "--net", "user,mac=52-54-00-12-34-56" }, "mac=52-54-00-12-34-56: not a MAC address" },
        { { "--net", "user,mac=52:54:00:12:34:5" }, "not a MAC address (expected six" },
        { { "--net", "user,mac=52:54:0:12:34:56" }, "not a MAC address" },
        { { "--net", "user,mac=52:54:00:12:34:5g" }, "not a MAC address" },
        { { "--net", "user,mac=52:54:00:12:34:+5" }, "not a MAC address" },
        { { "--net", "user,mac=52:54:00:12:34: 5" }, "not a MAC address" },
        { { "--net", "user,mac=-2:54:00:12:34:56" }, "not a MAC address" },
        { { "--net", "user,mac=52:54:00:12:34:56:" }, "not a MAC address" },
        { { "--net", "user,mac=525400123456" }, "not a MAC address" },
        { { "--net", "user,mac=0x:54:00:12:34:56" }, "not a MAC address" },
        { { "--net", "user,mac=01:00:5e:00:00:01" }, "mac=01:00:5e:00:00:01: a multicast address" },
        { { "--net", "user,mac=ff:ff:ff:ff:ff:ff" }, "multicast" },
        { { "--net", "user,mac=00:00:00:00:00:00" }, "all-zero" },
        { { "--net", "user,mac=" }, "mac= has no value" },
        { { "--net", "user,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57" }, "mac= given twice" },
        /* KEY=VALUE lists */
        { { "--net", "user," }, "--net 'user,': empty item" },
        { { "--net", "user,,restrict=on" }, "empty item" },
        { { "--net", "user,restrict=on,restrict=off" }, "restrict= given twice" },
        { { "--net", "tap=t0,tap=t1" }, "tap= given twice" },
        { { "--net", "user,user" }, "unexpected 'user' (expected KEY=VALUE" },
        { { "--disk", "path=" }, "--disk 'path=': path= has no value" },
        { { "--disk", "," }, "empty item" },
        { { "--disk", "path=x," }, "--disk 'path=x,': empty item" },
        { { "--disk", "path=x,path=y" }, "path= given twice" },
        { { "--disk", "x,path=y" }, "the path is given twice" },
        { { "--disk", "x,y" }, "unexpected 'y'" },
        { { "--disk", "path=x,readonly" }, "unexpected 'readonly'" },
        { { "--disk", "path=x,readonly=" }, "readonly= has no value" },
        { { "--disk", "path=x,serial=" }, "serial= has no value" },
        { { "--disk", "path=x,=on" }, "'=on' has no key" },
        { { "--disk", "" }, "--disk '': empty value" },
        /* plain lists */
        { { "--initrd", "a,,b" }, "--initrd 'a,,b': empty file name" },
        { { "--initrd", "a," }, "empty file name" },
        { { "--initrd", "," }, "empty file name" },
        { { "--initrd", "" }, "--initrd '': empty value" },
        { { "--cpu-filter", "avx," }, "--cpu-filter 'avx,': empty feature name" },
        { { "--cpu-filter", "" }, "--cpu-filter '': empty value" },
        { { "--console", "" }, "--console '': empty value (expected serial or virtio)" },
        /* the command line's own shape */
        { { "--mem", "1G" }, "unknown option '--mem' (options are not abbreviated: did you mean --memory?)" },
        { { "--verb" }, "did you mean --verbose?" },
        { { "--c", "1" }, "unknown option '--c'" },
        { { "-vx" }, "unknown option '-x'" },
        { { "--debug-exit=1" }, "option '--debug-exit' takes no value" },
        { { "--memory", "--cpus", "2" }, "--memory needs a value (SIZE or size=SIZE[,...]), but the next argument is the option '--cpus'" },
        { { "--cpus" }, "option '--cpus' needs a value" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[10] = { "run", "--kernel", "k" };
        int argc = 3;
        for (int j = 0; j < 6 && cases[i].args[j]; j++)
            argv[argc++] = (char *)cases[i].args[j];
        struct vm_config c;
        char err[256] = "";
        static char buf[4096];
        if (options_parse_run(argc, argv, &c, buf, sizeof buf, err, sizeof err) != OPTIONS_ERROR)
            fail_msg("case %zu (%s %s) was accepted", i, cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "");
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
}

/* Single-valued options given twice are refused, naming both values;
 * --disk and --net add a device each; flags may repeat. */
static void duplicates(void **state)
{
    (void)state;
    struct vm_config c;
    char err[256];
    static const char *const once[][2] = {
        { "--memory", "1G" }, { "--cpus", "2" }, { "--cmdline", "x" }, { "--initrd", "a" },
        { "--console", "virtio" }, { "--cpu-filter", "avx" },
    };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        assert_int_equal(parse(&c, err, "--kernel", "k", once[i][0], once[i][1], once[i][0],
                               once[i][1], NULL), OPTIONS_ERROR);
        char want[64];
        snprintf(want, sizeof want, "%s given twice ('%s', then '%s')", once[i][0], once[i][1],
                 once[i][1]);
        if (!strstr(err, want))
            fail_msg("'%s' lacks '%s'", err, want);
    }
    assert_int_equal(parse(&c, err, "--kernel", "a", "--kernel=b", NULL), OPTIONS_ERROR);
    assert_non_null(strstr(err, "--kernel given twice ('a', then 'b'): give it once"));
    assert_int_equal(parse(&c, err, "--kernel", "k", "--disk", "a", "--disk", "b", "--net", "user",
                           "--net", "user", "--debug-exit", "--debug-exit", "--rng", "--rng",
                           "-v", "--verbose", "--testdev", "--testdev", NULL), OPTIONS_RUN);
    assert_int_equal(c.ndisks, 2);
    assert_int_equal(c.nnets, 2);
    assert_true(c.debug_exit && c.rng && c.verbose && c.testdev);
}

/* What strictness still lets through. */
static void accepted_edges(void **state)
{
    (void)state;
    struct vm_config c;
    char err[256];
    assert_int_equal(parse(&c, err, "--kernel", "k", NULL), OPTIONS_RUN);
    assert_false(c.testdev);
    assert_int_equal(parse(&c, err, "--kernel", "k", "--cpus", "02", "--cmdline", "",
                           "--net", "user,mac=02:AB:cd:00:00:01,hostfwd=tcp::1-:2,hostfwd=tcp::3-:4",
                           "--memory", "512MiB", "--", NULL), OPTIONS_RUN);
    assert_int_equal(c.cpus, 2);
    assert_string_equal(c.cmdline, "");
    assert_int_equal(c.nets[0].mac[0], 0x02);
    assert_int_equal(c.nets[0].mac[1], 0xab);
    assert_int_equal(c.nets[0].mac[2], 0xcd);
    assert_int_equal(c.nets[0].mac[5], 0x01);
    assert_int_equal(c.nets[0].nfwd, 2);
    assert_int_equal(c.mem_size, 512ULL << 20);
    /* An option's value may start with "--" if it names no option. */
    assert_int_equal(parse(&c, err, "--kernel", "--not-an-option", NULL), OPTIONS_RUN);
    assert_string_equal(c.kernel, "--not-an-option");
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
        cmocka_unit_test(strict_errors),
        cmocka_unit_test(duplicates),
        cmocka_unit_test(accepted_edges),
        cmocka_unit_test(cpu_filter_dependencies),
        cmocka_unit_test(cpuid_filter_applies),
        cmocka_unit_test(cpuid_timing_leaf),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
