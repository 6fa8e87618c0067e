/* The legacy devices through the bus, as a guest drives them, plus their
 * state round trips. */
#include "fake_host.h"

#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "core/state.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define COM1 0x3f8

struct serial_fixture {
    struct fake_host f;
    struct serial *s;
    struct device d;
    int pipe[2];
    unsigned space_calls;
};

static void on_space(void *ctx) { ((struct serial_fixture *)ctx)->space_calls++; }

static int serial_setup(void **state)
{
    struct serial_fixture *x = calloc(1, sizeof *x);
    fake_host_init(&x->f, 1 << 20);
    assert_int_equal(pipe(x->pipe), 0);
    x->f.console_fd = x->pipe[1];
    x->s = serial_create(&x->f.host, COM1, 4, on_space, x, &x->d);
    assert_non_null(x->s);
    *state = x;
    return 0;
}

static int serial_teardown(void **state)
{
    struct serial_fixture *x = *state;
    x->d.ops->destroy(x->d.dev);
    close(x->pipe[0]);
    close(x->pipe[1]);
    fake_host_destroy(&x->f);
    free(x);
    return 0;
}

static void serial_transmit(void **state)
{
    struct serial_fixture *x = *state;
    assert_int_equal(pio_in(&x->f, COM1 + 5) & 0x60, 0x60);   /* THRE, TEMT */
    pio_out(&x->f, COM1, 'h');
    pio_out(&x->f, COM1, 'i');
    char buf[2];
    assert_int_equal(read(x->pipe[0], buf, 2), 2);
    assert_memory_equal(buf, "hi", 2);
    /* Divisor latch: DLAB routes offsets 0/1 to DLL/DLM, not THR/IER. */
    pio_out(&x->f, COM1 + 3, 0x83);
    pio_out(&x->f, COM1, 0x01);
    pio_out(&x->f, COM1 + 1, 0x02);
    assert_int_equal(pio_in(&x->f, COM1), 0x01);
    assert_int_equal(pio_in(&x->f, COM1 + 1), 0x02);
    pio_out(&x->f, COM1 + 3, 0x03);
    assert_int_equal(pio_in(&x->f, COM1 + 1), 0x00);
    pio_out(&x->f, COM1 + 7, 0x5a);                            /* scratch */
    assert_int_equal(pio_in(&x->f, COM1 + 7), 0x5a);
}

static void serial_thre_interrupt(void **state)
{
    struct serial_fixture *x = *state;
    assert_false(x->f.irq[4]);
    pio_out(&x->f, COM1 + 1, 0x02);                 /* enable THRI: fires at once */
    assert_true(x->f.irq[4]);
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0x0f, 0x02);
    assert_false(x->f.irq[4]);                      /* reading IIR acknowledged it */
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0x0f, 0x01);
    pio_out(&x->f, COM1, 'x');                      /* sent: THR empty again */
    assert_true(x->f.irq[4]);
    pio_out(&x->f, COM1 + 1, 0x00);
    assert_false(x->f.irq[4]);
}

static void serial_receive_fifo(void **state)
{
    struct serial_fixture *x = *state;
    pio_out(&x->f, COM1 + 1, 0x01);                 /* RDI */
    /* FIFO off: room for one byte only. */
    assert_int_equal(serial_receive(x->s, (const uint8_t *)"ab", 2), 1);
    assert_true(x->f.irq[4]);
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0x0f, 0x04);
    assert_int_equal(pio_in(&x->f, COM1 + 5) & 0x01, 0x01);
    assert_int_equal(pio_in(&x->f, COM1), 'a');
    assert_int_equal(x->space_calls, 1);            /* the refused 'b' may come now */
    assert_false(x->f.irq[4]);
    /* FIFO on, trigger level 4. */
    pio_out(&x->f, COM1 + 2, 0x47);
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0xc0, 0xc0);
    uint8_t in[20];
    for (int i = 0; i < 20; i++)
        in[i] = (uint8_t)('A' + i);
    assert_int_equal(serial_receive(x->s, in, 2), 2);
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0x0f, 0x0c);   /* below trigger: timeout */
    assert_int_equal(serial_receive(x->s, in + 2, 18), 14);   /* 16 deep */
    assert_int_equal(pio_in(&x->f, COM1 + 2) & 0x0f, 0x04);
    assert_false(serial_can_receive(x->s));
    for (int i = 0; i < 16; i++)
        assert_int_equal(pio_in(&x->f, COM1), 'A' + i);
    assert_int_equal(pio_in(&x->f, COM1 + 5) & 0x01, 0);
    assert_false(x->f.irq[4]);
    assert_true(serial_can_receive(x->s));
    /* Clearing the FIFO while input waits also wakes the console. */
    unsigned before = x->space_calls;
    serial_receive(x->s, in, 20);
    pio_out(&x->f, COM1 + 2, 0x47 | 0x02);
    assert_int_equal(x->space_calls, before + 1);
}

static void serial_loopback(void **state)
{
    struct serial_fixture *x = *state;
    pio_out(&x->f, COM1 + 4, 0x10 | 0x08 | 0x02);   /* LOOP | OUT2 | RTS */
    assert_int_equal(pio_in(&x->f, COM1 + 6) & 0xf0, 0x90);   /* DCD | CTS, as Linux checks */
    pio_out(&x->f, COM1, 'z');
    assert_int_equal(pio_in(&x->f, COM1 + 5) & 1, 1);
    assert_int_equal(pio_in(&x->f, COM1), 'z');
    assert_int_equal(serial_receive(x->s, (const uint8_t *)"q", 1), 0);  /* line disconnected */
    pio_out(&x->f, COM1 + 4, 0x00);
    assert_int_equal(pio_in(&x->f, COM1 + 6) & 0xf0, 0xb0);
}

static void serial_state_round_trip(void **state)
{
    struct serial_fixture *x = *state;
    pio_out(&x->f, COM1 + 2, 0x07);
    pio_out(&x->f, COM1 + 1, 0x05);
    pio_out(&x->f, COM1 + 7, 0x42);
    serial_receive(x->s, (const uint8_t *)"xyz", 3);
    struct state_writer w;
    state_writer_init(&w);
    x->d.ops->save(x->d.dev, &w);
    assert_false(w.failed);

    struct device d2;
    struct fake_host f2;
    fake_host_init(&f2, 1 << 20);
    serial_create(&f2.host, COM1, 4, NULL, NULL, &d2);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), 0);
    assert_true(f2.irq[4]);                         /* pending RX interrupt restored */
    assert_int_equal(pio_in(&f2, COM1 + 7), 0x42);
    assert_int_equal(pio_in(&f2, COM1 + 1), 0x05);
    assert_int_equal(pio_in(&f2, COM1), 'x');
    assert_int_equal(pio_in(&f2, COM1), 'y');
    assert_int_equal(pio_in(&f2, COM1), 'z');
    /* A truncated stream is refused, not half-loaded. */
    state_reader_init(&r, w.buf, w.len - 1);
    assert_int_equal(d2.ops->load(d2.dev, &r), -1);
    d2.ops->destroy(d2.dev);
    fake_host_destroy(&f2);
    state_writer_free(&w);
}

static void i8042_probe_and_reset(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    struct device d;
    assert_non_null(i8042_create(&f.host, &d));
    assert_int_equal(pio_in(&f, 0x64) & 0x10, 0x10); /* not inhibited: no keylock warning */
    pio_out(&f, 0x64, 0xaa);                        /* self test */
    assert_int_equal(pio_in(&f, 0x64) & 1, 1);
    assert_int_equal(pio_in(&f, 0x60), 0x55);
    assert_int_equal(pio_in(&f, 0x64) & 1, 0);
    pio_out(&f, 0x64, 0x20);                        /* read CTR */
    uint8_t ctr = pio_in(&f, 0x60);
    pio_out(&f, 0x64, 0x60);                        /* write CTR */
    pio_out(&f, 0x60, (uint8_t)(ctr & ~1));
    pio_out(&f, 0x64, 0x20);
    assert_int_equal(pio_in(&f, 0x60), ctr & ~1);
    pio_out(&f, 0x64, 0x60);
    pio_out(&f, 0x60, 0x01);                        /* keyboard interrupt on */
    pio_out(&f, 0x60, 0xff);                        /* keyboard reset: ACK, BAT ok */
    assert_true(f.irq[1]);
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    assert_int_equal(pio_in(&f, 0x60), 0xaa);
    assert_false(f.irq[1]);
    assert_int_equal(f.stops, 0);
    pio_out(&f, 0x64, 0xfe);                        /* pulse the reset line */
    assert_int_equal(f.stops, 1);
    assert_int_equal(f.stop, VM_STOP_RESET);
    assert_int_equal(f.stop_status, 0);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f);
}

static uint8_t cmos(struct fake_host *f, uint8_t reg)
{
    pio_out(f, 0x70, reg);
    return pio_in(f, 0x71);
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10u + (v & 15); }

static void rtc_time_and_memory(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    struct device d;
    assert_non_null(rtc_create(&f.host, 512ULL << 20, 1ULL << 30, &d));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    assert_int_equal(bcd(cmos(&f, 0x09)), tm.tm_year % 100);
    assert_int_equal(bcd(cmos(&f, 0x32)), (1900 + tm.tm_year) / 100);
    assert_int_equal(bcd(cmos(&f, 0x08)), tm.tm_mon + 1);
    assert_int_equal(cmos(&f, 0x0d), 0x80);         /* valid RAM and time */
    assert_int_equal(cmos(&f, 0x15) | cmos(&f, 0x16) << 8, 640);
    assert_int_equal(cmos(&f, 0x34) | cmos(&f, 0x35) << 8, (512 - 16) * 16);
    assert_int_equal(cmos(&f, 0x5b) | cmos(&f, 0x5c) << 8 | cmos(&f, 0x5d) << 16, 1 << 14);
    /* Binary mode, and setting the year moves the clock. */
    pio_out(&f, 0x70, 0x0b);
    pio_out(&f, 0x71, 0x06);
    pio_out(&f, 0x70, 0x09);
    pio_out(&f, 0x71, 42);
    assert_int_equal(cmos(&f, 0x09), 42);
    pio_out(&f, 0x70, 0x40);                        /* plain CMOS RAM */
    pio_out(&f, 0x71, 0x99);
    assert_int_equal(cmos(&f, 0x40), 0x99);
    /* 16 bits at 0x70 cover both ports, as on a board: the write sets the
     * index and the register, the read gives 0xff and the register. */
    uint8_t w16[2] = { 0x41, 0x5a }, r16[2] = { 0, 0 };
    bus_access(&f.pio, 0x70, w16, 2, true);
    assert_int_equal(cmos(&f, 0x41), 0x5a);
    bus_access(&f.pio, 0x70, r16, 2, false);
    assert_int_equal(r16[0], 0xff);
    assert_int_equal(r16[1], 0x5a);

    struct state_writer w;
    state_writer_init(&w);
    d.ops->save(d.dev, &w);
    struct device d2;
    struct fake_host f2;
    fake_host_init(&f2, 1 << 20);
    rtc_create(&f2.host, 1 << 20, 0, &d2);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), 0);
    assert_int_equal(cmos(&f2, 0x40), 0x99);
    assert_int_equal(cmos(&f2, 0x09), 42);          /* the guest's clock came along */
    /* The far future a binary century register allows (year 25599) is
     * only a date: reading it and its update flag overflows nothing
     * (under UBSan this would trip), and it comes back as set. */
    pio_out(&f2, 0x70, 0x0b);
    pio_out(&f2, 0x71, 0x06);
    pio_out(&f2, 0x70, 0x32);
    pio_out(&f2, 0x71, 255);
    assert_int_equal(cmos(&f2, 0x32), 255);
    (void)cmos(&f2, 0x0a);
    /* A restored state that puts the clock beyond any such date is refused. */
    struct state_writer w2;
    state_writer_init(&w2);
    state_begin(&w2, "rtc", 1);
    state_put_u8(&w2, 0);
    uint8_t regs[128] = { 0 };
    state_put_bytes(&w2, regs, sizeof regs);
    state_put_u64(&w2, (uint64_t)INT64_MAX);
    state_end(&w2);
    state_reader_init(&r, w2.buf, w2.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), -1);
    state_writer_free(&w2);
    d2.ops->destroy(d2.dev);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f2);
    fake_host_destroy(&f);
    state_writer_free(&w);
}

static void debug_exit_codes(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 1 << 20);
    struct device d;
    assert_int_equal(debug_exit_create(&f.host, &d), 0);
    uint8_t v[4] = { 0x10, 0, 0, 0 };
    bus_access(&f.pio, 0xf4, v, 4, true);
    assert_int_equal(f.stop, VM_STOP_DEBUG_EXIT);
    assert_int_equal(f.stop_status, 0x21);
    f.stops = 0;
    pio_out(&f, 0xf4, 0);
    assert_int_equal(f.stop_status, 1);
    /* Its state (none the guest can change) round-trips; a stream for
     * another device is refused. */
    struct state_writer w;
    state_writer_init(&w);
    d.ops->save(d.dev, &w);
    assert_false(w.failed);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d.ops->load(d.dev, &r), 0);
    state_reader_init(&r, "\x03rtc", 4);
    assert_int_equal(d.ops->load(d.dev, &r), -1);
    state_writer_free(&w);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f);
}

static void state_stream(void **state)
{
    (void)state;
    struct state_writer w;
    state_writer_init(&w);
    state_begin(&w, "a", 3);
    state_put_u8(&w, 1);
    state_put_u16(&w, 0x0203);
    state_put_u32(&w, 0x04050607);
    state_put_u64(&w, 0x08090a0b0c0d0e0fULL);
    state_end(&w);
    state_begin(&w, "b", 1);
    state_end(&w);
    assert_false(w.failed);
    struct state_reader r;
    uint32_t version;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(state_open(&r, "a", &version), 0);
    assert_int_equal(version, 3);
    assert_int_equal(state_get_u8(&r), 1);
    assert_int_equal(state_get_u16(&r), 0x0203);
    assert_int_equal(state_get_u32(&r), 0x04050607);
    assert_int_equal(state_get_u64(&r), 0x08090a0b0c0d0e0fULL);
    assert_int_equal(state_get_u8(&r), 0);          /* past the section: fails */
    assert_int_equal(state_close(&r), -1);
    /* Wrong name, and leftovers, are errors too. */
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(state_open(&r, "b", &version), -1);
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(state_open(&r, "a", &version), 0);
    state_get_u8(&r);
    assert_int_equal(state_close(&r), -1);
    /* Misuse poisons the writer. */
    state_writer_free(&w);
    state_writer_init(&w);
    state_end(&w);
    assert_true(w.failed);
    state_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(serial_transmit, serial_setup, serial_teardown),
        cmocka_unit_test_setup_teardown(serial_thre_interrupt, serial_setup, serial_teardown),
        cmocka_unit_test_setup_teardown(serial_receive_fifo, serial_setup, serial_teardown),
        cmocka_unit_test_setup_teardown(serial_loopback, serial_setup, serial_teardown),
        cmocka_unit_test_setup_teardown(serial_state_round_trip, serial_setup, serial_teardown),
        cmocka_unit_test(i8042_probe_and_reset),
        cmocka_unit_test(rtc_time_and_memory),
        cmocka_unit_test(debug_exit_codes),
        cmocka_unit_test(state_stream),
    };
    return cmocka_run_group_tests_name("devices", tests, NULL, NULL);
}
