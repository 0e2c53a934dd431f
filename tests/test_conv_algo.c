/* cuDNN algorithm choice: the pure rules over made-up result lists (ties, non-deterministic entries,
 * NOT_SUPPORTED, workspace over the cap, strict fp32), and the record a checkpoint carries. */
#include "harness.h"

#include "ebgan/conv_algo.h"

#include <string.h>

#define MiB ((size_t)1 << 20)
/* algo, ok, deterministic, tensor_op, ws_bytes, time_ms */
#define C(a, ok, det, tc, ws, t) {(a), (ok), (det), (tc), (ws), (t)}

EB_TEST(heuristic_takes_the_first_qualifying_deterministic) {
    const eb_conv_algo_cand c[] = {C(6, 1, 0, 0, 0, 0), C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0)};
    int i = eb_conv_algo_pick(c, 3, 256 * MiB, 0, EB_CONV_ALGO_HEURISTIC);
    EB_CHECK(i == 1, "picked %d, expected the first deterministic (index 1)", i);
    return EB_TEST_PASS;
}

EB_TEST(heuristic_ignores_timings) {
    const eb_conv_algo_cand c[] = {C(2, 1, 1, 0, 0, 9.0f), C(1, 1, 1, 0, 0, 0.1f)};
    int i = eb_conv_algo_pick(c, 2, 256 * MiB, 0, EB_CONV_ALGO_HEURISTIC);
    EB_CHECK(i == 0, "picked %d: the heuristic order, not the time, decides", i);
    return EB_TEST_PASS;
}

EB_TEST(not_supported_entries_never_qualify) {
    const eb_conv_algo_cand c[] = {C(7, 0, 1, 0, 0, 0.01f), C(5, 0, 1, 0, 0, 0.02f), C(1, 1, 1, 0, MiB, 1.0f)};
    EB_CHECK(eb_conv_algo_pick(c, 3, 256 * MiB, 0, EB_CONV_ALGO_HEURISTIC) == 2, "heuristic took a failed entry");
    EB_CHECK(eb_conv_algo_pick(c, 3, 256 * MiB, 0, EB_CONV_ALGO_SEARCH) == 2, "search took a failed entry");
    return EB_TEST_PASS;
}

EB_TEST(workspace_over_the_cap_never_qualifies) {
    /* the explicit-GEMM algorithm at a large MALA chunk wants ~16 GB */
    const eb_conv_algo_cand c[] = {C(0, 1, 1, 0, (size_t)16 << 30, 0.5f), C(1, 1, 1, 0, 256 * MiB + 1, 0.6f),
                                   C(2, 1, 1, 0, 256 * MiB, 3.0f)};
    EB_CHECK(eb_conv_algo_pick(c, 3, 256 * MiB, 0, EB_CONV_ALGO_HEURISTIC) == 2, "heuristic exceeded the cap");
    EB_CHECK(eb_conv_algo_pick(c, 3, 256 * MiB, 0, EB_CONV_ALGO_SEARCH) == 2, "search exceeded the cap");
    EB_CHECK(eb_conv_algo_pick(c, 2, 256 * MiB, 0, EB_CONV_ALGO_SEARCH) == -1, "none fits: expected -1");
    return EB_TEST_PASS;
}

EB_TEST(non_deterministic_only_when_nothing_deterministic_qualifies) {
    const eb_conv_algo_cand some[] = {C(3, 1, 0, 0, 0, 0.1f), C(4, 1, 1, 0, 0, 5.0f)};
    EB_CHECK(eb_conv_algo_pick(some, 2, MiB, 0, EB_CONV_ALGO_SEARCH) == 1, "a faster non-deterministic one won");
    const eb_conv_algo_cand none[] = {C(3, 1, 0, 0, 0, 0.3f), C(4, 1, 0, 0, 0, 0.1f), C(5, 1, 1, 0, 2 * MiB, 0.1f)};
    EB_CHECK(eb_conv_algo_pick(none, 3, MiB, 0, EB_CONV_ALGO_SEARCH) == 1,
             "no deterministic one fits: the fastest of the rest");
    EB_CHECK(eb_conv_algo_pick(none, 3, MiB, 0, EB_CONV_ALGO_HEURISTIC) == 0,
             "no deterministic one fits: the ranking's first of the rest");
    return EB_TEST_PASS;
}

EB_TEST(strict_fp32_refuses_tensor_op_results) {
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 1, 0, 0.1f), C(1, 1, 1, 0, 0, 0.3f)};
    EB_CHECK(eb_conv_algo_pick(c, 2, MiB, 1, EB_CONV_ALGO_HEURISTIC) == 1, "fp32 took a tensor-op entry");
    EB_CHECK(eb_conv_algo_pick(c, 2, MiB, 0, EB_CONV_ALGO_HEURISTIC) == 0, "tf32 may take the tensor-op entry");
    const eb_conv_algo_cand only_tc[] = {C(1, 1, 1, 1, 0, 0.1f)};
    EB_CHECK(eb_conv_algo_pick(only_tc, 1, MiB, 1, EB_CONV_ALGO_SEARCH) == -1, "fp32 with only tensor ops: -1");
    return EB_TEST_PASS;
}

EB_TEST(search_near_ties_go_to_the_lower_algorithm) {
    /* 1.00 ms vs 1.03 ms: within the 5% window, so algo 1 wins whichever order the timings came in */
    const eb_conv_algo_cand a[] = {C(6, 1, 1, 0, 0, 1.00f), C(1, 1, 1, 0, 0, 1.03f), C(0, 1, 1, 0, 0, 2.0f)};
    const eb_conv_algo_cand b[] = {C(1, 1, 1, 0, 0, 1.01f), C(6, 1, 1, 0, 0, 0.99f), C(0, 1, 1, 0, 0, 2.0f)};
    int ia = eb_conv_algo_pick(a, 3, MiB, 0, EB_CONV_ALGO_SEARCH), ib = eb_conv_algo_pick(b, 3, MiB, 0, EB_CONV_ALGO_SEARCH);
    EB_CHECK(a[ia].algo == 1 && b[ib].algo == 1, "near tie picked algo %d and %d, expected 1 both times", a[ia].algo,
             b[ib].algo);
    /* a clear winner (20% faster) is taken even with a higher number */
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 1.2f), C(6, 1, 1, 0, 0, 1.0f)};
    EB_CHECK(eb_conv_algo_pick(c, 2, MiB, 0, EB_CONV_ALGO_SEARCH) == 1, "the clearly fastest lost");
    return EB_TEST_PASS;
}

EB_TEST(empty_list_picks_nothing) {
    EB_CHECK(eb_conv_algo_pick(NULL, 0, MiB, 0, EB_CONV_ALGO_HEURISTIC) == -1, "expected -1");
    EB_CHECK(eb_conv_algo_pick(NULL, 0, MiB, 0, EB_CONV_ALGO_SEARCH) == -1, "expected -1");
    return EB_TEST_PASS;
}

EB_TEST(rank_lists_deterministic_candidates_first_then_the_rest) {
    const eb_conv_algo_cand c[] = {C(6, 1, 0, 0, 0, 0), C(1, 1, 1, 0, 0, 0), C(7, 0, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0)};
    int order[4];
    const int m = eb_conv_algo_rank(c, 4, MiB, 0, EB_CONV_ALGO_HEURISTIC, 0u, order);
    EB_CHECK(m == 3, "%d ranked, expected 3 (the failed entry never qualifies)", m);
    EB_CHECK(order[0] == 1 && order[1] == 3 && order[2] == 0, "order %d %d %d, expected 1 3 0", order[0], order[1],
             order[2]);
    return EB_TEST_PASS;
}

EB_TEST(rank_in_search_mode_follows_the_timings) {
    const eb_conv_algo_cand c[] = {C(2, 1, 1, 0, 0, 3.0f), C(5, 1, 1, 0, 0, 1.0f), C(4, 1, 1, 0, 0, 2.0f)};
    int order[3];
    EB_CHECK(eb_conv_algo_rank(c, 3, MiB, 0, EB_CONV_ALGO_SEARCH, 0u, order) == 3, "all three qualify");
    EB_CHECK(order[0] == 1 && order[1] == 2 && order[2] == 0, "order %d %d %d, expected fastest first: 1 2 0",
             order[0], order[1], order[2]);
    return EB_TEST_PASS;
}

EB_TEST(rank_leaves_out_algorithms_refused_at_execution) {
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0), C(6, 1, 1, 0, 0, 0)};
    int order[3];
    const int m = eb_conv_algo_rank(c, 3, MiB, 1, EB_CONV_ALGO_HEURISTIC, 1u << 1 | 1u << 6, order);
    EB_CHECK(m == 1 && order[0] == 1, "expected only algorithm 0 (index 1) left, got %d entries, first %d", m,
             m ? order[0] : -1);
    return EB_TEST_PASS;
}

/* A made-up library: the workspace query fails for the algorithms in `fail` and answers `ws[algo]` else. */
typedef struct fake_lib {
    unsigned fail;
    size_t ws[8];
    int asked[8];
} fake_lib;

static int fake_query(void *arg, int algo, size_t *ws_bytes) {
    fake_lib *f = arg;
    f->asked[algo]++;
    if (f->fail >> algo & 1u) return 1;
    *ws_bytes = f->ws[algo];
    return 0;
}

EB_TEST(walk_passes_over_a_failing_workspace_query) {
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0), C(2, 1, 1, 0, 0, 0)};
    fake_lib f = {.fail = 1u << 1, .ws = {4096, 0, 64}};
    size_t ws = 0;
    int tried = 0;
    const int i = eb_conv_algo_walk(c, 3, MiB, 0, EB_CONV_ALGO_HEURISTIC, 0u, fake_query, &f, &ws, &tried);
    EB_CHECK(i == 1 && ws == 4096, "picked index %d (ws %zu), expected the second candidate with 4096 bytes", i, ws);
    EB_CHECK(tried == 2 && f.asked[1] == 1 && f.asked[2] == 0, "asked %d candidates, expected 2 in rank order", tried);
    return EB_TEST_PASS;
}

EB_TEST(walk_passes_over_a_workspace_that_does_not_fit) {
    /* the list said 0 bytes, but the query for the math type set answers more than the cap */
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0)};
    fake_lib f = {.ws = {512, 2 * MiB}};
    size_t ws = 0;
    const int i = eb_conv_algo_walk(c, 2, MiB, 0, EB_CONV_ALGO_HEURISTIC, 0u, fake_query, &f, &ws, NULL);
    EB_CHECK(i == 1 && ws == 512, "picked index %d (ws %zu), expected algorithm 0 with 512 bytes", i, ws);
    return EB_TEST_PASS;
}

EB_TEST(walk_after_a_refusal_at_execution_takes_the_next) {
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0), C(2, 1, 0, 0, 0, 0)};
    fake_lib f = {.ws = {0, 0, 0}};
    size_t ws = 1;
    int i = eb_conv_algo_walk(c, 3, MiB, 1, EB_CONV_ALGO_HEURISTIC, 1u << 1, fake_query, &f, &ws, NULL);
    EB_CHECK(i == 1, "after algorithm 1 was refused: picked index %d, expected 1 (algorithm 0)", i);
    i = eb_conv_algo_walk(c, 3, MiB, 1, EB_CONV_ALGO_HEURISTIC, 1u << 1 | 1u << 0, fake_query, &f, &ws, NULL);
    EB_CHECK(i == 2, "after algorithms 1 and 0 were refused: picked %d, expected the non-deterministic 2", i);
    return EB_TEST_PASS;
}

EB_TEST(walk_with_nothing_left_picks_nothing) {
    const eb_conv_algo_cand c[] = {C(1, 1, 1, 0, 0, 0), C(0, 1, 1, 0, 0, 0)};
    fake_lib f = {.fail = 1u << 0 | 1u << 1};
    size_t ws = 0;
    int tried = 0;
    const int i = eb_conv_algo_walk(c, 2, MiB, 0, EB_CONV_ALGO_HEURISTIC, 0u, fake_query, &f, &ws, &tried);
    EB_CHECK(i == -1 && tried == 2, "expected -1 after asking both, got %d after %d", i, tried);
    return EB_TEST_PASS;
}

EB_TEST(record_round_trips_and_finds_by_key) {
    const eb_conv_algo_choice c[] = {
        {{64, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2}, 1, EB_CONV_DIR_FWD, 1, 0},
        {{64, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2}, 1, EB_CONV_DIR_BWD_FILTER, 3, 1},
        {{7, 128, 8, 8, 256, 4, 4, 4, 4, 2, 1}, 0, EB_CONV_DIR_BWD_DATA, 4, 3},
    };
    char buf[1024];
    size_t need = eb_conv_algo_format("NVIDIA H200 cudnn 91000", c, 3, buf, sizeof buf);
    EB_CHECK(need == strlen(buf), "length %zu, wrote %zu", need, strlen(buf));
    eb_conv_algo_choice back[4];
    int n = 0;
    char comment[64];
    EB_CHECK_OK(eb_conv_algo_parse(buf, back, 4, &n, comment, sizeof comment));
    EB_CHECK(n == 3 && !memcmp(back, c, sizeof c), "parsed %d choices, not equal to the written ones:\n%s", n, buf);
    EB_CHECK(!strcmp(comment, "NVIDIA H200 cudnn 91000"), "comment '%s'", comment);
    EB_CHECK(eb_conv_algo_find(back, n, &c[2].g, 0, EB_CONV_DIR_BWD_DATA) == 2, "lookup by key");
    EB_CHECK(eb_conv_algo_find(back, n, &c[2].g, 1, EB_CONV_DIR_BWD_DATA) == -1, "another precision matched");
    EB_CHECK(eb_conv_algo_find(back, n, &c[0].g, 1, EB_CONV_DIR_BWD_DATA) == -1, "another direction matched");
    /* a short buffer: snprintf semantics, the needed length still reported */
    char small[16];
    EB_CHECK(eb_conv_algo_format(NULL, c, 3, small, sizeof small) > sizeof small && strlen(small) == 15,
             "truncation");
    return EB_TEST_PASS;
}

EB_TEST(malformed_record_is_a_format_error) {
    eb_conv_algo_choice back[2];
    int n;
    const char *bad[] = {"fwd 1 2 3\n", "sideways 64 1 28 28 64 14 14 5 5 2 2 1 1 0\n",
                         "fwd 64 1 28 28 64 14 14 5 5 2 2 1 1 0 junk\n", "fwd 0 1 28 28 64 14 14 5 5 2 2 1 1 0\n"};
    for (int i = 0; i < 4; i++)
        EB_CHECK(eb_conv_algo_parse(bad[i], back, 2, &n, NULL, 0) == EB_ERR_FORMAT, "accepted '%s'", bad[i]);
    const char *three = "fwd 1 1 4 4 1 4 4 1 1 1 0 1 0 0\nfwd 2 1 4 4 1 4 4 1 1 1 0 1 0 0\nfwd 3 1 4 4 1 4 4 1 1 1 0 1 0 0\n";
    EB_CHECK(eb_conv_algo_parse(three, back, 2, &n, NULL, 0) == EB_ERR_FORMAT, "overflowed the output list");
    EB_CHECK(eb_conv_algo_parse("", back, 2, &n, NULL, 0) == EB_OK && n == 0, "empty record");
    return EB_TEST_PASS;
}

EB_TEST(mode_names_parse) {
    eb_conv_algo_mode m;
    EB_CHECK(eb_conv_algo_mode_parse("search", &m) == EB_OK && m == EB_CONV_ALGO_SEARCH, "search");
    EB_CHECK(eb_conv_algo_mode_parse("heuristic", &m) == EB_OK && m == EB_CONV_ALGO_HEURISTIC, "heuristic");
    EB_CHECK(eb_conv_algo_mode_parse("fastest", &m) == EB_ERR_ARG, "accepted 'fastest'");
    return EB_TEST_PASS;
}
