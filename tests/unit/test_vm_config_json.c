/* vm.create's body: Cloud Hypervisor's VmConfig -> struct vm_config.
 * Whole structs as ch-remote sends them (nulls, keys kvmbox does not know),
 * each field's mapping, the kvmbox extensions, and one clear message per
 * bad input naming the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/vm_config_json.h"
#include "core/config_check.h"
#include "vmm/cpuid.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static char err[256];

static struct vm_config *parse_base(const char *json, const struct vm_config *base)
{
    struct vm_config *cfg = (struct vm_config *)1;
    err[0] = 0;
    int r = vm_config_from_json(json, strlen(json), base, &cfg, err, sizeof err);
    if (r < 0) {
        assert_null(cfg);
        assert_true(err[0] != 0);
        return NULL;
    }
    if (!cfg)
        fail_msg("0 returned without a config");
    return cfg;
}

static struct vm_config *parse(const char *json)
{
    struct vm_config *cfg = parse_base(json, NULL);
    if (!cfg)
        fail_msg("refused: %s\n%s", err, json);
    return cfg;
}

/* Refused, with a message containing `msg`. */
static void refused(const char *json, const char *msg)
{
    struct vm_config *cfg = parse_base(json, NULL);
    if (cfg) {
        vm_config_free(cfg);
        fail_msg("accepted: %s", json);
    }
    if (!strstr(err, msg))
        fail_msg("'%s' lacks '%s' (body %s)", err, msg, json);
}

#define K "\"payload\": {\"kernel\": \"/k\"}"

/* What `ch-remote create` sends for a VM of 2 vCPUs, 1 GiB, a disk and a
 * NIC: whole structs, nulls for what is unset, and many keys kvmbox has
 * no use for. */
static const char ch_remote_body[] =
    "{\"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 2, \"topology\": null, \"kvm_hyperv\": false,"
    "  \"max_phys_bits\": 46, \"affinity\": null, \"features\": {\"amx\": false}},"
    " \"memory\": {\"size\": 1073741824, \"mergeable\": false, \"hotplug_method\": \"Acpi\","
    "  \"hotplug_size\": null, \"hotplugged_size\": null, \"shared\": false, \"hugepages\": false,"
    "  \"hugepage_size\": null, \"prefault\": false, \"zones\": null, \"thp\": true},"
    " \"payload\": {\"firmware\": null, \"kernel\": \"/boot/vmlinuz\","
    "  \"cmdline\": \"console=hvc0 root=/dev/vda\", \"initramfs\": null},"
    " \"rate_limit_groups\": null,"
    " \"disks\": [{\"path\": \"/img/root.raw\", \"readonly\": false, \"direct\": true,"
    "  \"iommu\": false, \"num_queues\": 1, \"queue_size\": 128, \"vhost_user\": false,"
    "  \"vhost_socket\": null, \"rate_limiter_config\": null, \"id\": null,"
    "  \"disable_io_uring\": false, \"pci_segment\": 0, \"serial\": null,"
    "  \"queue_affinity\": null}],"
    " \"net\": [{\"tap\": \"tap0\", \"ip\": \"192.168.249.1\", \"mask\": \"255.255.255.0\","
    "  \"mac\": \"12:34:56:78:90:ab\", \"host_mac\": null, \"mtu\": null, \"iommu\": false,"
    "  \"num_queues\": 2, \"queue_size\": 256, \"vhost_user\": false, \"vhost_socket\": null,"
    "  \"vhost_mode\": \"Client\", \"id\": null, \"fds\": null, \"rate_limiter_config\": null,"
    "  \"pci_segment\": 0, \"offload_tso\": true, \"offload_ufo\": true, \"offload_csum\": true}],"
    " \"rng\": {\"src\": \"/dev/urandom\", \"iommu\": false},"
    " \"balloon\": null, \"fs\": null, \"pmem\": null,"
    " \"serial\": {\"file\": null, \"mode\": \"Null\", \"iommu\": false, \"socket\": null},"
    " \"console\": {\"file\": null, \"mode\": \"Tty\", \"iommu\": false, \"socket\": null},"
    " \"debug_console\": {\"file\": null, \"mode\": \"Off\", \"iobase\": 233},"
    " \"devices\": null, \"user_devices\": null, \"vdpa\": null, \"vsock\": null,"
    " \"pvpanic\": false, \"iommu\": false, \"numa\": null, \"watchdog\": false,"
    " \"platform\": null, \"tpm\": null, \"preserved_fds\": null, \"landlock_enable\": false,"
    " \"landlock_rules\": null}";

static void ch_remote_whole_structs(void **state)
{
    (void)state;
    struct vm_config *c = parse(ch_remote_body);
    assert_string_equal(c->kernel, "/boot/vmlinuz");
    assert_string_equal(c->cmdline, "console=hvc0 root=/dev/vda");
    assert_int_equal(c->ninitrds, 0);
    assert_int_equal(c->cpus, 2);
    assert_int_equal(c->mem_size, 1ULL << 30);
    assert_false(c->mem_shared);
    assert_false(c->mem_hugepages);
    assert_int_equal(c->ndisks, 1);
    assert_string_equal(c->disks[0].path, "/img/root.raw");
    assert_false(c->disks[0].readonly);
    assert_true(c->disks[0].direct);
    assert_string_equal(c->disks[0].id, "");
    assert_string_equal(c->disks[0].serial, "");
    assert_int_equal(c->nnets, 1);
    assert_int_equal(c->nets[0].kind, NET_TAP);
    assert_string_equal(c->nets[0].ifname, "tap0");
    assert_true(c->nets[0].has_mac);
    assert_int_equal(c->nets[0].mac[0], 0x12);
    assert_int_equal(c->nets[0].mac[5], 0xab);
    assert_true(c->rng);
    assert_int_equal(c->console, CONSOLE_VIRTIO);
    assert_false(c->debug_exit);
    vm_config_free(c);
}

/* Only a kernel: everything else at the command line's defaults. */
static void minimal(void **state)
{
    (void)state;
    struct vm_config *c = parse("{" K "}");
    assert_string_equal(c->kernel, "/k");
    assert_null(c->cmdline);
    assert_int_equal(c->ninitrds, 0);
    assert_int_equal(c->cpus, 1);
    assert_int_equal(c->mem_size, CONFIG_DEFAULT_MEMORY);
    assert_int_equal(c->console, CONSOLE_SERIAL);
    assert_int_equal(c->ndisks, 0);
    assert_int_equal(c->nnets, 0);
    assert_false(c->rng || c->debug_exit || c->testdev || c->verbose || c->mem_shared);
    assert_string_equal(c->kvm_path, "/dev/kvm");
    assert_null(c->api_path);
    assert_null(c->event_path);
    for (unsigned i = 0; i < CPU_FEATURE_MAX; i++)
        assert_false(c->cpu_filter.hide[i]);
    vm_config_free(c);
    /* Whitespace around the object is JSON too. */
    c = parse(" \r\n{" K "}\n ");
    vm_config_free(c);
}

static void payload_mapping(void **state)
{
    (void)state;
    struct vm_config *c = parse("{\"payload\": {\"kernel\": \"/vmlinux\", \"cmdline\": \"\","
                                " \"initramfs\": \"/initrd.img\", \"host_data\": \"x\"}}");
    assert_string_equal(c->kernel, "/vmlinux");
    assert_string_equal(c->cmdline, "");     /* an empty command line is a choice */
    assert_int_equal(c->ninitrds, 1);
    assert_string_equal(c->initrds[0], "/initrd.img");
    vm_config_free(c);
    /* CH's older top-level forms. */
    c = parse("{\"kernel\": {\"path\": \"/old\"}, \"cmdline\": {\"args\": \"quiet\"},"
              " \"initramfs\": {\"path\": \"/old.img\"}}");
    assert_string_equal(c->kernel, "/old");
    assert_string_equal(c->cmdline, "quiet");
    assert_string_equal(c->initrds[0], "/old.img");
    vm_config_free(c);
    /* The payload wins where both say. */
    c = parse("{\"payload\": {\"kernel\": \"/new\"}, \"kernel\": {\"path\": \"/old\"}}");
    assert_string_equal(c->kernel, "/new");
    vm_config_free(c);
    /* Strings escaped in JSON arrive unescaped. */
    c = parse("{\"payload\": {\"kernel\": \"/a b/\\u00e9\\\"q\\\"\"}}");
    assert_string_equal(c->kernel, "/a b/\xc3\xa9\"q\"");
    vm_config_free(c);
}

static void cpus_mapping(void **state)
{
    (void)state;
    struct vm_config *c = parse("{" K ", \"cpus\": {\"boot_vcpus\": 4, \"max_vcpus\": 8}}");
    assert_int_equal(c->cpus, 4);   /* max above boot: accepted, no hotplug */
    vm_config_free(c);
    c = parse("{" K ", \"cpus\": {\"boot_vcpus\": 255, \"max_vcpus\": null}}");
    assert_int_equal(c->cpus, 255);
    vm_config_free(c);
    c = parse("{" K ", \"cpus\": {}}");
    assert_int_equal(c->cpus, 1);
    vm_config_free(c);
}

static void memory_mapping(void **state)
{
    (void)state;
    struct vm_config *c = parse("{" K ", \"memory\": {\"size\": 2097152, \"shared\": true}}");
    assert_int_equal(c->mem_size, 2ULL << 20);
    assert_true(c->mem_shared);
    assert_false(c->mem_hugepages);
    vm_config_free(c);
    c = parse("{" K ", \"memory\": {\"size\": 4294967296, \"hugepages\": true,"
              " \"hugepage_size\": 2097152}}");
    assert_int_equal(c->mem_size, 4ULL << 30);
    assert_true(c->mem_hugepages);
    vm_config_free(c);
    c = parse("{" K ", \"memory\": {\"size\": 1099511627776}}");   /* 1T, the most */
    assert_int_equal(c->mem_size, 1ULL << 40);
    vm_config_free(c);
}

static void disks_mapping(void **state)
{
    (void)state;
    struct vm_config *c = parse(
        "{" K ", \"disks\": [{\"path\": \"/a.img\", \"readonly\": true, \"id\": \"root\","
        " \"serial\": \"SN-0001\"}, {\"path\": \"/b.img\", \"direct\": true, \"id\": null}]}");
    assert_int_equal(c->ndisks, 2);
    assert_string_equal(c->disks[0].path, "/a.img");
    assert_true(c->disks[0].readonly);
    assert_false(c->disks[0].direct);
    assert_string_equal(c->disks[0].id, "root");
    assert_string_equal(c->disks[0].serial, "SN-0001");
    assert_string_equal(c->disks[1].path, "/b.img");
    assert_false(c->disks[1].readonly);
    assert_true(c->disks[1].direct);
    assert_string_equal(c->disks[1].id, "");
    vm_config_free(c);
    c = parse("{" K ", \"disks\": [{\"path\": \"/0\"}, {\"path\": \"/1\"}, {\"path\": \"/2\"},"
              " {\"path\": \"/3\"}, {\"path\": \"/4\"}, {\"path\": \"/5\"}, {\"path\": \"/6\"},"
              " {\"path\": \"/7\"}]}");
    assert_int_equal(c->ndisks, CONFIG_MAX_DISKS);
    assert_string_equal(c->disks[7].path, "/7");
    vm_config_free(c);
    /* A device may be given the id it gets anyway (vm.info's config names
     * every device), and only that one of kvmbox's own. */
    c = parse("{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"_disk0\"}],"
              " \"net\": [{\"tap\": \"t\", \"id\": \"_net1\"}]}");
    assert_string_equal(c->disks[0].id, "_disk0");
    assert_string_equal(c->nets[0].id, "_net1");
    vm_config_free(c);
    refused("{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"_disk1\"}]}", "this device's is _disk0");
}

static void net_mapping(void **state)
{
    (void)state;
    struct vm_config *c = parse(
        "{" K ", \"net\": [{\"tap\": \"tap7\", \"id\": \"uplink\"},"
        " {\"mac\": \"02:ab:CD:00:00:01\", \"id\": \"user.0\", \"kvmbox\": {\"user\": true,"
        "  \"hostfwd\": [\"tcp::2222-:22\", \"udp:127.0.0.1:5353-10.0.2.9:53\"],"
        "  \"restrict\": true}}, {\"kvmbox\": {\"user\": true, \"hostfwd\": null}}]}");
    assert_int_equal(c->nnets, 3);
    assert_int_equal(c->nets[0].kind, NET_TAP);
    assert_string_equal(c->nets[0].ifname, "tap7");
    assert_false(c->nets[0].has_mac);
    assert_string_equal(c->nets[0].id, "uplink");
    assert_int_equal(c->nets[1].kind, NET_USER);
    assert_true(c->nets[1].has_mac);
    assert_int_equal(c->nets[1].mac[1], 0xab);
    assert_int_equal(c->nets[1].mac[2], 0xcd);
    assert_string_equal(c->nets[1].id, "user.0");
    assert_true(c->nets[1].restricted);
    assert_int_equal(c->nets[1].nfwd, 2);
    assert_false(c->nets[1].fwd[0].udp);
    assert_int_equal(c->nets[1].fwd[0].host_port, 2222);
    assert_int_equal(c->nets[1].fwd[0].guest_port, 22);
    assert_int_equal(c->nets[1].fwd[0].host_addr.s_addr, INADDR_ANY);
    assert_true(c->nets[1].fwd[1].udp);
    assert_int_equal(c->nets[1].fwd[1].host_addr.s_addr, htonl(0x7f000001));
    assert_int_equal(c->nets[1].fwd[1].guest_addr.s_addr, htonl(0x0a000209));
    assert_int_equal(c->nets[2].kind, NET_USER);
    assert_int_equal(c->nets[2].nfwd, 0);
    assert_false(c->nets[2].restricted);
    vm_config_free(c);
}

static void devices_and_extensions(void **state)
{
    (void)state;
    struct vm_config *c = parse("{" K ", \"rng\": {\"src\": \"/dev/hwrng\"},"
                                " \"serial\": {\"mode\": \"Tty\"}, \"console\": {\"mode\": \"Off\"},"
                                " \"kvmbox\": {\"debug_exit\": true, \"testdev\": true,"
                                " \"cpu_filter\": \"cx16,xsave\", \"future\": 1}}");
    assert_true(c->rng);
    assert_int_equal(c->console, CONSOLE_SERIAL);
    assert_true(c->debug_exit);
    assert_true(c->testdev);
    struct cpu_filter f;
    char e[128];
    assert_int_equal(cpu_filter_parse("cx16,xsave", &f, e, sizeof e), 0);
    assert_memory_equal(&c->cpu_filter, &f, sizeof f);
    vm_config_free(c);
    /* null is "not given": no rng, the default console. */
    c = parse("{" K ", \"rng\": null, \"console\": null, \"serial\": {\"mode\": null},"
              " \"kvmbox\": null}");
    assert_false(c->rng);
    assert_int_equal(c->console, CONSOLE_SERIAL);
    vm_config_free(c);
    c = parse("{" K ", \"console\": {\"mode\": \"Null\"}, \"rng\": {}}");
    assert_int_equal(c->console, CONSOLE_SERIAL);
    assert_true(c->rng);
    vm_config_free(c);
}

/* What is the VMM's comes from base, copied into the config's own
 * allocation (base may go away). */
static void base_fields(void **state)
{
    (void)state;
    struct vm_config base;
    config_init(&base);
    char kvm[] = "/dev/kvm-test", api[] = "/run/api.sock", ev[] = "/tmp/events";
    base.kvm_path = kvm;
    base.api_path = api;
    base.event_path = ev;
    base.api_fd = 7;
    base.event_fd = 9;
    base.verbose = true;
    base.cpus = 8;          /* the VM's: not taken from base */
    base.debug_exit = true;
    struct vm_config *c = parse_base("{" K "}", &base);
    assert_non_null(c);
    memset(kvm, 'x', sizeof kvm - 1);
    memset(api, 'x', sizeof api - 1);
    memset(ev, 'x', sizeof ev - 1);
    assert_string_equal(c->kvm_path, "/dev/kvm-test");
    assert_string_equal(c->api_path, "/run/api.sock");
    assert_string_equal(c->event_path, "/tmp/events");
    assert_int_equal(c->api_fd, 7);
    assert_int_equal(c->event_fd, 9);
    assert_true(c->verbose);
    assert_int_equal(c->cpus, 1);
    assert_false(c->debug_exit);
    vm_config_free(c);
    base.api_path = base.event_path = NULL;
    c = parse_base("{" K "}", &base);
    assert_non_null(c);
    assert_null(c->api_path);
    assert_null(c->event_path);
    vm_config_free(c);
    vm_config_free(NULL);
}

static void not_json_or_not_an_object(void **state)
{
    (void)state;
    refused("", "not JSON");
    refused("{", "ends early");
    refused("{\"payload\": {\"kernel\": \"/k\"}", "ends early");
    refused("{\"a\": 1,}", "not JSON");
    refused("{\"a\": 'x'}", "not JSON");
    refused("{" K "} {}", "not JSON");
    refused("{" K "}x", "not JSON");
    refused("[" K "]", "not JSON");
    refused("[1]", "must be a JSON object");
    refused("null", "must be a JSON object");
    refused("\"x\"", "must be a JSON object");
    refused("{\"payload\": {\"kernel\": \"\xff\"}}", "not JSON");
    /* A NUL byte inside the body. */
    struct vm_config *cfg;
    const char body[] = "{" K "}\0{}";
    assert_int_equal(vm_config_from_json(body, sizeof body - 1, NULL, &cfg, err, sizeof err), -1);
    assert_null(cfg);
}

static void wrong_types(void **state)
{
    (void)state;
    static const struct { const char *json, *msg; } cases[] = {
        { "{" K ", \"cpus\": {\"boot_vcpus\": \"2\"}}", "cpus.boot_vcpus: expected an integer" },
        { "{" K ", \"cpus\": {\"boot_vcpus\": 2.0}}", "cpus.boot_vcpus: expected an integer" },
        { "{" K ", \"cpus\": {\"max_vcpus\": true}}", "cpus.max_vcpus: expected an integer" },
        { "{" K ", \"cpus\": 2}", "cpus: expected an object" },
        { "{" K ", \"memory\": {\"size\": \"1G\"}}", "memory.size: expected an integer" },
        { "{" K ", \"memory\": {\"size\": 1e9}}", "memory.size: expected an integer" },
        { "{" K ", \"memory\": {\"shared\": 1}}", "memory.shared: expected true or false" },
        { "{" K ", \"memory\": {\"hugepages\": \"on\"}}", "memory.hugepages: expected true or false" },
        { "{\"payload\": {\"kernel\": 5}}", "payload.kernel: expected a string" },
        { "{\"payload\": \"/k\"}", "payload: expected an object" },
        { "{" K ", \"payload\": {\"kernel\": \"/k\", \"cmdline\": []}}", "payload.cmdline: expected a string" },
        { "{\"kernel\": \"/k\"}", "kernel: expected an object" },
        { "{" K ", \"disks\": {\"path\": \"/d\"}}", "disks: expected an array" },
        { "{" K ", \"disks\": [\"/d\"]}", "disks[0]: expected an object" },
        { "{" K ", \"disks\": [null]}", "disks[0]: expected an object" },
        { "{" K ", \"disks\": [{\"path\": \"/d\", \"readonly\": \"yes\"}]}", "disks[0].readonly: expected true or false" },
        { "{" K ", \"disks\": [{\"path\": \"/d\", \"id\": 3}]}", "disks[0].id: expected a string" },
        { "{" K ", \"net\": [{\"tap\": 1}]}", "net[0].tap: expected a string" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"kvmbox\": true}]}", "net[0].kvmbox: expected an object" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": \"tcp::1-:2\"}}]}", "net[0].kvmbox.hostfwd: expected an array" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [22]}}]}", "net[0].kvmbox.hostfwd[0]: expected a string" },
        { "{" K ", \"rng\": true}", "rng: expected an object" },
        { "{" K ", \"rng\": {\"src\": 1}}", "rng.src: expected a string" },
        { "{" K ", \"console\": {\"mode\": 1}}", "console.mode: expected a string" },
        { "{" K ", \"kvmbox\": {\"debug_exit\": 1}}", "kvmbox.debug_exit: expected true or false" },
        { "{" K ", \"kvmbox\": {\"cpu_filter\": [\"avx\"]}}", "kvmbox.cpu_filter: expected a string" },
        { "{" K ", \"kvmbox\": []}", "kvmbox: expected an object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        refused(cases[i].json, cases[i].msg);
}

static void bad_values(void **state)
{
    (void)state;
    static const struct { const char *json, *msg; } cases[] = {
        /* payload */
        { "{}", "payload.kernel is required" },
        { "{\"payload\": {}}", "payload.kernel is required" },
        { "{\"payload\": {\"kernel\": null, \"cmdline\": \"x\"}}", "payload.kernel is required" },
        { "{\"payload\": {\"kernel\": \"\"}}", "payload.kernel: empty path" },
        { "{\"payload\": {\"kernel\": \"/k\", \"initramfs\": \"\"}}", "payload.initramfs: empty path" },
        { "{\"payload\": {\"firmware\": \"/fw\", \"kernel\": \"/k\"}}", "payload.firmware: kvmbox boots kernels only" },
        { "{\"payload\": {\"firmware\": \"/fw\"}}", "payload.firmware: kvmbox boots kernels only" },
        { "{\"payload\": {\"kernel\": \"/k\\u0000x\"}}", "payload.kernel: contains a NUL character" },
        /* cpus */
        { "{" K ", \"cpus\": {\"boot_vcpus\": 0}}", "cpus.boot_vcpus 0: expected a number from 1 to 255" },
        { "{" K ", \"cpus\": {\"boot_vcpus\": 256}}", "cpus.boot_vcpus 256: expected a number from 1 to 255" },
        { "{" K ", \"cpus\": {\"boot_vcpus\": -1}}", "cpus.boot_vcpus -1" },
        { "{" K ", \"cpus\": {\"boot_vcpus\": 4, \"max_vcpus\": 2}}", "cpus.max_vcpus 2 is less than cpus.boot_vcpus 4" },
        { "{" K ", \"cpus\": {\"max_vcpus\": 300}}", "cpus.max_vcpus 300: expected a number from 1 to 255" },
        /* memory */
        { "{" K ", \"memory\": {\"size\": 1024}}", "memory.size 1024 is too small: at least 2M" },
        { "{" K ", \"memory\": {\"size\": 0}}", "memory.size 0 is too small" },
        { "{" K ", \"memory\": {\"size\": -4096}}", "memory.size -4096 is too small" },
        { "{" K ", \"memory\": {\"size\": 2199023255552}}", "memory.size 2199023255552 is too large: at most 1T" },
        { "{" K ", \"memory\": {\"size\": 99999999999999999999}}", "is too large" },
        { "{" K ", \"memory\": {\"size\": 3000000}}", "memory.size 3000000 is not a multiple of 4K" },
        { "{" K ", \"memory\": {\"size\": 3145728, \"hugepages\": true}}", "memory.size 3145728: with memory.hugepages the size must be a multiple of 2M" },
        { "{" K ", \"memory\": {\"hugepages\": true, \"hugepage_size\": 1073741824}}", "memory.hugepage_size 1073741824: kvmbox's huge pages are 2M" },
        /* disks */
        { "{" K ", \"disks\": [{\"readonly\": true}]}", "disks[0].path is required" },
        { "{" K ", \"disks\": [{\"path\": \"\"}]}", "disks[0].path is empty" },
        { "{" K ", \"disks\": [{\"path\": \"/d\", \"serial\": \"123456789012345678901\"}]}", "disks[0].serial is at most 20 characters" },
        { "{" K ", \"disks\": [{\"path\": \"/0\"}, {\"path\": \"/1\"}, {\"path\": \"/2\"}, {\"path\": \"/3\"},"
          " {\"path\": \"/4\"}, {\"path\": \"/5\"}, {\"path\": \"/6\"}, {\"path\": \"/7\"}, {\"path\": \"/8\"}]}",
          "disks: at most 8 disks (got 9)" },
        /* ids */
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"x\"}, {\"path\": \"/b\", \"id\": \"x\"}]}", "disks[1].id 'x': another device already has this id" },
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"x\"}], \"net\": [{\"tap\": \"t\", \"id\": \"x\"}]}", "net[0].id 'x': another device already has this id" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"id\": \"n\"}, {\"tap\": \"u\", \"id\": \"n\"}]}", "net[1].id 'n': another device" },
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"\"}]}", "disks[0].id '': an id is 1 to 31 characters" },
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"a234567890123456789012345678901x\"}]}", "an id is 1 to 31 characters" },
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"a b\"}]}", "an id is made of letters, digits" },
        { "{" K ", \"disks\": [{\"path\": \"/a\", \"id\": \"a/b\"}]}", "an id is made of letters" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"id\": \"_net5\"}]}", "net[0].id '_net5': ids starting with '_' are kvmbox's own" },
        /* net */
        { "{" K ", \"net\": [{\"ip\": \"192.168.249.1\", \"mask\": \"255.255.255.0\"}]}", "net[0]: needs tap (kvmbox does not create TAP devices) or kvmbox.user" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"kvmbox\": {\"user\": false}}, {}]}", "net[1]: needs tap" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"kvmbox\": {\"user\": true}}]}", "net[0]: tap and kvmbox.user exclude each other" },
        { "{" K ", \"net\": [{\"tap\": \"\"}]}", "net[0].tap needs an interface name of at most 15 characters" },
        { "{" K ", \"net\": [{\"tap\": \"a-name-that-is-too-long\"}]}", "net[0].tap needs an interface name" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"mac\": \"52-54-00-12-34-56\"}]}", "net[0].mac '52-54-00-12-34-56': not a MAC address" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"mac\": \"01:00:5e:00:00:01\"}]}", "net[0].mac '01:00:5e:00:00:01': a multicast address" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"mac\": \"00:00:00:00:00:00\"}]}", "all-zero" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"mac\": \"\"}]}", "not a MAC address" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"kvmbox\": {\"hostfwd\": [\"tcp::1-:2\"]}}]}", "net[0].kvmbox.hostfwd: only with kvmbox.user" },
        { "{" K ", \"net\": [{\"tap\": \"t\", \"kvmbox\": {\"restrict\": true}}]}", "net[0].kvmbox.restrict: only with kvmbox.user" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [\"tcp:2222:22\"]}}]}", "net[0].kvmbox.hostfwd[0] 'tcp:2222:22': a hostfwd takes tcp:" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [\"tcp::1-:2\", \"sctp::1-:2\"]}}]}", "net[0].kvmbox.hostfwd[1] 'sctp::1-:2'" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [\"tcp::70000-:22\"]}}]}", "a hostfwd takes" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [\"tcp:1.2.3.4\\u0000:1-:2\"]}}]}", "contains a NUL character" },
        { "{" K ", \"net\": [{\"kvmbox\": {\"user\": true, \"hostfwd\": [\"tcp::1-:1\", \"tcp::2-:2\","
          " \"tcp::3-:3\", \"tcp::4-:4\", \"tcp::5-:5\", \"tcp::6-:6\", \"tcp::7-:7\", \"tcp::8-:8\", \"tcp::9-:9\"]}}]}",
          "net[0].kvmbox.hostfwd: at most 8 (got 9)" },
        { "{" K ", \"net\": [{\"tap\": \"a\"}, {\"tap\": \"b\"}, {\"tap\": \"c\"}, {\"tap\": \"d\"}, {\"tap\": \"e\"}]}", "net: at most 4 NICs (got 5)" },
        /* consoles */
        { "{" K ", \"console\": {\"mode\": \"Pty\"}}", "console.mode Pty: not supported by kvmbox" },
        { "{" K ", \"console\": {\"mode\": \"File\", \"file\": \"/tmp/c\"}}", "console.mode File: not supported by kvmbox" },
        { "{" K ", \"serial\": {\"mode\": \"Socket\"}}", "serial.mode Socket: not supported by kvmbox" },
        { "{" K ", \"serial\": {\"mode\": \"tty\"}}", "serial.mode tty: not supported" },
        /* kvmbox extension */
        { "{" K ", \"kvmbox\": {\"cpu_filter\": \"avx,nope\"}}", "kvmbox.cpu_filter: unknown CPU feature 'nope'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        refused(cases[i].json, cases[i].msg);
}

/* The first error is the one reported, and nothing is handed out. */
static void first_error_wins(void **state)
{
    (void)state;
    refused("{\"payload\": {\"firmware\": \"/fw\"}, \"cpus\": {\"boot_vcpus\": 0}}", "payload.firmware");
    refused("{" K ", \"cpus\": {\"boot_vcpus\": 0}, \"memory\": {\"size\": 1}}", "cpus.boot_vcpus 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ch_remote_whole_structs),
        cmocka_unit_test(minimal),
        cmocka_unit_test(payload_mapping),
        cmocka_unit_test(cpus_mapping),
        cmocka_unit_test(memory_mapping),
        cmocka_unit_test(disks_mapping),
        cmocka_unit_test(net_mapping),
        cmocka_unit_test(devices_and_extensions),
        cmocka_unit_test(base_fields),
        cmocka_unit_test(not_json_or_not_an_object),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(first_error_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
