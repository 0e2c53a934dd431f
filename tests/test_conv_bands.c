/* The border bands of the CPU's direct convolutions (src/kernels/cpu/conv/direct_bands.c): which outputs read
 * which taps inside the input, and on which layers splitting into bands pays. */
#include "harness.h"
#include "kernels/cpu/conv/direct.h"

/* k5 s2 p2 on a 4-wide input (the mnist trunk's last layer): output 0 reads taps 2..4, output 1 taps 0..3 */
EB_TEST(each_output_of_a_4_to_2_layer_is_a_band_of_its_own) {
    conv_band b[4];
    const int n = conv_bands(0, 2, 5, 2, 1, 2, 4, b);
    EB_CHECK(n == 2, "got %d bands", n);
    EB_CHECK(b[0].o0 == 0 && b[0].o1 == 1 && b[0].t0 == 2 && b[0].t1 == 5, "band 0: [%d,%d) taps [%d,%d)", b[0].o0,
             b[0].o1, b[0].t0, b[0].t1);
    EB_CHECK(b[1].o0 == 1 && b[1].o1 == 2 && b[1].t0 == 0 && b[1].t1 == 4, "band 1: [%d,%d) taps [%d,%d)", b[1].o0,
             b[1].o1, b[1].t0, b[1].t1);
    EB_CHECK(conv_band_taps(b, n) == 7, "inside taps %zu, expected 3 + 4", conv_band_taps(b, n));
    return EB_TEST_PASS;
}

/* k5 s2 p2 on 14 -> 7: the top row, five interior rows with every tap, the bottom row */
EB_TEST(interior_outputs_share_one_band) {
    conv_band b[7];
    const int n = conv_bands(0, 7, 5, 2, 1, 2, 14, b);
    EB_CHECK(n == 3, "got %d bands", n);
    EB_CHECK(b[1].o0 == 1 && b[1].o1 == 6 && b[1].t0 == 0 && b[1].t1 == 5, "interior band [%d,%d) taps [%d,%d)",
             b[1].o0, b[1].o1, b[1].t0, b[1].t1);
    EB_CHECK(b[2].t0 == 0 && b[2].t1 == 4, "bottom band taps [%d,%d)", b[2].t0, b[2].t1);
    return EB_TEST_PASS;
}

/* The data gradient's phase rows read dy row rq - t: rows past dy's end lose their first taps */
EB_TEST(backward_rows_read_dy_backwards) {
    conv_band b[3];
    const int n = conv_bands(1, 3, 3, 1, -1, 0, 2, b); /* rq 1, 2 over a 2-row dy, 3 taps */
    EB_CHECK(n == 2, "got %d bands", n);
    EB_CHECK(b[0].t0 == 0 && b[0].t1 == 2 && b[1].t0 == 1 && b[1].t1 == 3, "taps [%d,%d) and [%d,%d)", b[0].t0,
             b[0].t1, b[1].t0, b[1].t1);
    return EB_TEST_PASS;
}

/* An output whose whole window lies in the padding reads no tap: an empty band, not a negative one */
EB_TEST(a_window_wholly_in_the_padding_reads_no_tap) {
    conv_band b[3];
    const int n = conv_bands(0, 3, 2, 3, 1, 0, 4, b); /* k2 s3 on 4 inputs: output 2 reads 6, 7 */
    EB_CHECK(b[n - 1].o1 == 3 && b[n - 1].t0 == b[n - 1].t1, "last band taps [%d,%d)", b[n - 1].t0, b[n - 1].t1);
    return EB_TEST_PASS;
}

/* Bands pay on the mnist trunk's 14x14, 7x7 and 4x4 inputs (16%, 36% and 51% of the taps on the border), not on
 * its 28x28 input (8%) nor on a same-padded 3x3 over 32x32 */
EB_TEST(bands_pay_where_the_border_is_a_large_share) {
    const struct { int h_in, h_out, k, s, p, pays; } layers[5] = {
        {7, 4, 5, 2, 2, 1}, {4, 2, 5, 2, 2, 1}, {14, 7, 5, 2, 2, 1}, {28, 14, 5, 2, 2, 0}, {32, 32, 3, 1, 1, 0}};
    for (int l = 0; l < 5; l++) {
        conv_band b[32];
        const int n = conv_bands(0, layers[l].h_out, layers[l].k, layers[l].s, 1, layers[l].p, layers[l].h_in, b);
        const int pays = conv_bands_pay(b, n, b, n, layers[l].h_out, layers[l].h_out, layers[l].k, layers[l].k);
        EB_CHECK(pays == layers[l].pays, "%dx%d input: pays %d", layers[l].h_in, layers[l].h_in, pays);
    }
    return EB_TEST_PASS;
}
