/* The console escape: Ctrl-A x quits, Ctrl-A Ctrl-A is a literal Ctrl-A,
 * and piped (non-terminal) input passes untouched. */
#include "fake_host.h"

#include "vmm/console.h"

static void escapes_on_a_terminal(void **state)
{
    (void)state;
    struct console c = { .in_fd = -1, .is_tty = true };
    bool quit;
    uint8_t a[] = { 'h', 1, 1, 'i', 1, 'z', '!' };
    size_t n = console_filter(&c, a, sizeof a, &quit);
    assert_false(quit);
    assert_int_equal(n, 4);
    assert_memory_equal(a, "h\001i!", 4);
    uint8_t b[] = { 'o', 'k', 1 };
    n = console_filter(&c, b, sizeof b, &quit);
    assert_int_equal(n, 2);
    assert_false(quit);
    uint8_t x[] = { 'x', 'y' };                 /* the escape spans two reads */
    n = console_filter(&c, x, sizeof x, &quit);
    assert_true(quit);
    assert_int_equal(n, 0);
}

static void pipes_pass_through(void **state)
{
    (void)state;
    struct console c = { .in_fd = -1, .is_tty = false };
    bool quit;
    uint8_t a[] = { 1, 'x' };
    assert_int_equal(console_filter(&c, a, sizeof a, &quit), 2);
    assert_false(quit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_on_a_terminal),
        cmocka_unit_test(pipes_pass_through),
    };
    return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}
