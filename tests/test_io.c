/* Run-directory file formats: atomic replacement (and its failure paths), safetensors against the Python
 * reference implementation and corrupt input, PNG pictures read back with libpng, JSON/JSONL output. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ebgan/atomic_file.h"
#include "ebgan/json.h"
#include "ebgan/png_write.h"
#include "ebgan/safetensors.h"
#include "harness.h"

/* ---- helpers ---- */

/* A fresh scratch directory per case (removed at the end of passing cases). */
static void tmpdir_make(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/eb_test_io_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void tmpdir_remove(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir); /* dir comes from mkdtemp: no quotes in it */
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* The harness's generator (not the library's: these tests do not depend on other modules); seeded per case. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd_u64(void) { return eb_test_rand_u64(&g_rng); }
static double rnd_uniform(void) { return eb_test_rand_unit(&g_rng); }
static void rnd_bytes(void *p, size_t n) {
    for (size_t i = 0; i < n; i++) ((unsigned char *)p)[i] = (unsigned char)(rnd_u64() >> 56);
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Plain (non-atomic, unsynced) write, for the many files the corruption tests produce. */
static int write_plain(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n;
}

/* Number of entries in dir whose name contains ".tmp." (leftover temp files). */
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static int python_has_safetensors(void) {
    return system("python3 -c 'import numpy, safetensors.numpy' >/dev/null 2>&1") == 0;
}

/* ======================= atomic files ======================= */

EB_TEST(atomic_replace_roundtrip) {
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.bin", dir);
    unsigned char a[3000], b[777];
    rnd_bytes(a, sizeof a);
    rnd_bytes(b, sizeof b);
    EB_CHECK_OK(eb_atomic_write_file(path, a, sizeof a));
    EB_CHECK_OK(eb_atomic_write_file(path, b, sizeof b)); /* replace a longer file with a shorter one */
    size_t n;
    unsigned char *got = read_all(path, &n);
    EB_CHECK(got && n == sizeof b && !memcmp(got, b, n), "content after replace differs (n=%zu)", n);
    free(got);
    /* streaming interface, several writes */
    eb_atomic_file af;
    EB_CHECK_OK(eb_atomic_open(&af, path));
    EB_CHECK_OK(eb_atomic_write(&af, a, 1000));
    EB_CHECK_OK(eb_atomic_write(&af, a + 1000, 2000));
    /* before commit readers still see the old file */
    got = read_all(path, &n);
    EB_CHECK(got && n == sizeof b && !memcmp(got, b, n), "target changed before commit");
    free(got);
    EB_CHECK_OK(eb_atomic_commit(&af));
    got = read_all(path, &n);
    EB_CHECK(got && n == sizeof a && !memcmp(got, a, n), "streamed content differs");
    free(got);
    EB_CHECK(count_temps(dir) == 0, "temp file left behind");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

EB_TEST(atomic_missing_directory_is_io_error) {
    const char *path = "/tmp/eb_test_io_no_such_dir_4711/sub/ckpt.safetensors";
    unsigned char x[16] = {1, 2, 3};
    eb_status st = eb_atomic_write_file(path, x, sizeof x);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), path) != NULL, "message does not name the path: %s", eb_error_message());
    EB_CHECK(strstr(eb_error_message(), strerror(ENOENT)) != NULL, "message lacks strerror: %s",
             eb_error_message());
    printf("  message: %s\n", eb_error_message());
    return EB_TEST_PASS;
}

/* ENOSPC on the building blocks: /dev/full accepts the open and fails the flush. */
EB_TEST(atomic_write_enospc_building_blocks) {
    FILE *f = fopen("/dev/full", "wb");
    if (!f) {
        printf("  /dev/full not available: skipped\n");
        return EB_TEST_SKIP;
    }
    unsigned char buf[100000];
    rnd_bytes(buf, sizeof buf);
    eb_status st = eb_io_write_all(f, buf, sizeof buf, "/dev/full");
    if (st == EB_OK) st = eb_io_flush_sync(f, "/dev/full");
    fclose(f);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), "/dev/full") && strstr(eb_error_message(), strerror(ENOSPC)),
             "message: %s", eb_error_message());
    printf("  message: %s\n", eb_error_message());
    return EB_TEST_PASS;
}

/* ENOSPC in the middle of a replacement: the temp stream is swapped for /dev/full, so commit fails
 * exactly as on a full disk; the previous file must survive and the temp file must be gone. */
EB_TEST(atomic_enospc_keeps_previous_file) {
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    unsigned char old[500], neu[20000];
    rnd_bytes(old, sizeof old);
    rnd_bytes(neu, sizeof neu);
    EB_CHECK_OK(eb_atomic_write_file(path, old, sizeof old));
    eb_atomic_file af;
    EB_CHECK_OK(eb_atomic_open(&af, path));
    FILE *full = fopen("/dev/full", "wb");
    if (!full) {
        eb_atomic_abort(&af);
        tmpdir_remove(dir);
        printf("  /dev/full not available: skipped\n");
        return EB_TEST_SKIP;
    }
    fclose(af.fp);
    af.fp = full;
    eb_status st = eb_atomic_write(&af, neu, sizeof neu);
    if (st == EB_OK) st = eb_atomic_commit(&af);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), path) && strstr(eb_error_message(), strerror(ENOSPC)),
             "message: %s", eb_error_message());
    printf("  message: %s\n", eb_error_message());
    size_t n;
    unsigned char *got = read_all(path, &n);
    EB_CHECK(got && n == sizeof old && !memcmp(got, old, n), "previous file damaged");
    free(got);
    EB_CHECK(count_temps(dir) == 0, "temp file left behind");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* A real write error through the public API: RLIMIT_FSIZE makes write(2) fail with EFBIG even for
 * root (SIGXFSZ ignored). Previous file intact, temp removed. */
EB_TEST(atomic_write_error_keeps_previous_file) {
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/samples.png", dir);
    static unsigned char old[1000], big[1 << 20];
    rnd_bytes(old, sizeof old);
    rnd_bytes(big, sizeof big);
    EB_CHECK_OK(eb_atomic_write_file(path, old, sizeof old));
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    EB_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno));
    eb_status st = eb_atomic_write_file(path, big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), path) && strstr(eb_error_message(), strerror(EFBIG)), "message: %s",
             eb_error_message());
    printf("  message: %s\n", eb_error_message());
    size_t n;
    unsigned char *got = read_all(path, &n);
    EB_CHECK(got && n == sizeof old && !memcmp(got, old, n), "previous file damaged");
    free(got);
    EB_CHECK(count_temps(dir) == 0, "temp file left behind");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* rename(2) failing (target is a non-empty directory): the directory stays, no temp left. */
EB_TEST(atomic_rename_failure_cleans_up) {
    char dir[64], path[128], inner[160];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/target", dir);
    snprintf(inner, sizeof inner, "%s/keep", path);
    EB_CHECK(mkdir(path, 0755) == 0, "mkdir");
    EB_CHECK(write_plain(inner, "x", 1), "write");
    eb_status st = eb_atomic_write_file(path, "abc", 3);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), path) != NULL, "message: %s", eb_error_message());
    printf("  message: %s\n", eb_error_message());
    struct stat sb;
    EB_CHECK(stat(inner, &sb) == 0, "directory content gone");
    EB_CHECK(count_temps(dir) == 0, "temp file left behind");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* ======================= safetensors ======================= */

/* A checkpoint-like set: every writable dtype, a scalar, a zero-size tensor, odd sizes so that later
 * tensors start unaligned, random content. */
typedef struct {
    float w[512 * 3];
    double d[7 * 5];
    int32_t i32[4 * 3 * 2];
    uint8_t u8[13];
    int64_t step;
    int64_t rng[2];
    float empty[1];
    eb_st_entry e[7];
    eb_st_meta m[4];
} ckpt_fixture;

static void fixture_init(ckpt_fixture *f) {
    for (size_t i = 0; i < sizeof f->w / sizeof f->w[0]; i++) f->w[i] = (float)(rnd_uniform() * 2 - 1);
    for (size_t i = 0; i < sizeof f->d / sizeof f->d[0]; i++) f->d[i] = (rnd_uniform() - 0.5) * 1e300;
    for (size_t i = 0; i < sizeof f->i32 / sizeof f->i32[0]; i++) f->i32[i] = (int32_t)rnd_u64();
    rnd_bytes(f->u8, sizeof f->u8);
    f->step = -(int64_t)(rnd_u64() >> 3);
    f->rng[0] = (int64_t)rnd_u64();
    f->rng[1] = (int64_t)(rnd_u64() >> 1);
    eb_st_entry e[7] = {
        {"U.0.weight", EB_ST_F32, 2, {512, 3}, f->w},
        {"opt/m \"quoted\" \xc3\xa9", EB_ST_F64, 2, {7, 5}, f->d},
        {"U8 bytes", EB_ST_U8, 1, {13}, f->u8},
        {"i32", EB_ST_I32, 3, {4, 3, 2}, f->i32},
        {"step", EB_ST_I64, 0, {0}, &f->step},
        {"empty", EB_ST_F32, 2, {0, 4}, NULL},
        {"rng_state", EB_ST_I64, 1, {2}, f->rng},
    };
    memcpy(f->e, e, sizeof e);
    eb_st_meta m[4] = {
        {"format", "pt"},
        {"config", "{\"preset\": \"8gaussians\", \"lr\": 1e-4}"},
        {"note", "line1\nline2\ttab \\ back \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"empty", ""},
    };
    memcpy(f->m, m, sizeof m);
}

static size_t entry_bytes(const eb_st_entry *e) {
    size_t n = eb_st_dtype_size(e->dtype);
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->shape[i];
    return n;
}

EB_TEST(safetensors_roundtrip_ours) {
    g_rng = 101;
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    static ckpt_fixture f;
    fixture_init(&f);
    EB_CHECK_OK(eb_safetensors_write(path, f.e, 7, f.m, 4));

    eb_safetensors st;
    EB_CHECK_OK(eb_safetensors_open(&st, path));
    EB_CHECK(st.data_start % 8 == 0, "data buffer starts at %llu, not 8-aligned", (unsigned long long)st.data_start);
    EB_CHECK(eb_safetensors_count(&st) == 7, "count %d", eb_safetensors_count(&st));
    uint64_t expect_off = 0;
    for (int i = 0; i < 7; i++) {
        const eb_st_info *t = eb_safetensors_at(&st, i);
        /* the header lists "__metadata__" first, then the tensors in the order given */
        EB_CHECK(!strcmp(t->name, f.e[i].name), "tensor %d is %s", i, t->name);
        EB_CHECK(t->begin == expect_off, "tensor %s begins at %llu, expected %llu", t->name,
                 (unsigned long long)t->begin, (unsigned long long)expect_off);
        expect_off = t->end;
        size_t nb = entry_bytes(&f.e[i]);
        unsigned char buf[8192];
        memset(buf, 0xAB, sizeof buf);
        EB_CHECK_OK(eb_safetensors_get(&st, f.e[i].name, f.e[i].dtype, f.e[i].ndim, f.e[i].shape, buf, sizeof buf));
        EB_CHECK(nb == 0 || !memcmp(buf, f.e[i].data, nb), "tensor %s differs", f.e[i].name);
    }
    for (int i = 0; i < 4; i++) {
        const char *v = eb_safetensors_meta(&st, f.m[i].key);
        EB_CHECK(v && !strcmp(v, f.m[i].value), "metadata %s = %s", f.m[i].key, v ? v : "(null)");
    }
    EB_CHECK(eb_safetensors_meta(&st, "absent") == NULL, "absent key found");

    /* mismatches name the file, the tensor and both shapes / dtypes */
    float dst[512 * 3];
    int64_t want[2] = {512, 2};
    eb_status rc = eb_safetensors_get(&st, "U.0.weight", EB_ST_F32, 2, want, dst, sizeof dst);
    char expect[512];
    snprintf(expect, sizeof expect, "checkpoint %s: tensor U.0.weight has shape [512, 3], model expects [512, 2]",
             path);
    EB_CHECK(rc == EB_ERR_FORMAT && !strncmp(eb_error_message(), expect, strlen(expect)), "got %d: %s", (int)rc,
             eb_error_message());
    printf("  message: %s\n", eb_error_message());
    int64_t want3[3] = {512, 3, 1};
    rc = eb_safetensors_get(&st, "U.0.weight", EB_ST_F32, 3, want3, dst, sizeof dst);
    EB_CHECK(rc == EB_ERR_FORMAT && strstr(eb_error_message(), "model expects [512, 3, 1]"), "%s", eb_error_message());
    rc = eb_safetensors_get(&st, "U.0.weight", EB_ST_F64, 2, f.e[0].shape, dst, sizeof dst);
    EB_CHECK(rc == EB_ERR_FORMAT && strstr(eb_error_message(), "has dtype F32, model expects F64"), "%s",
             eb_error_message());
    rc = eb_safetensors_get(&st, "U.9.weight", EB_ST_F32, 2, f.e[0].shape, dst, sizeof dst);
    EB_CHECK(rc == EB_ERR_FORMAT && strstr(eb_error_message(), "no tensor named U.9.weight"), "%s",
             eb_error_message());
    rc = eb_safetensors_get(&st, "U.0.weight", EB_ST_F32, 2, f.e[0].shape, dst, 100);
    EB_CHECK(rc == EB_ERR_ARG, "small buffer accepted");
    eb_safetensors_close(&st);

    /* writer argument errors */
    eb_st_entry dup[2] = {f.e[0], f.e[0]};
    EB_CHECK(eb_safetensors_write(path, dup, 2, NULL, 0) == EB_ERR_ARG, "duplicate name accepted");
    eb_st_entry bad = f.e[0];
    bad.name = "__metadata__";
    EB_CHECK(eb_safetensors_write(path, &bad, 1, NULL, 0) == EB_ERR_ARG, "reserved name accepted");
    bad = f.e[0];
    bad.dtype = EB_ST_BF16;
    EB_CHECK(eb_safetensors_write(path, &bad, 1, NULL, 0) == EB_ERR_ARG, "BF16 write accepted");
    /* the failed writes left the good file in place */
    EB_CHECK_OK(eb_safetensors_open(&st, path));
    eb_safetensors_close(&st);
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* Writes a Python script into dir and runs it; returns its exit status (0 = its checks passed). */
static int run_python(const char *dir, const char *name, const char *script, const char *args) {
    char spath[256], cmd[1024];
    snprintf(spath, sizeof spath, "%s/%s", dir, name);
    if (!write_plain(spath, script, strlen(script))) return -1;
    snprintf(cmd, sizeof cmd, "python3 '%s' %s", spath, args);
    return system(cmd);
}

/* (1) ours -> reference: Python's safetensors.numpy.load_file and safe_open(...).metadata() must give
 * exactly the bytes, dtypes, shapes and metadata we wrote (byte comparison of every tensor). */
static const char *py_check_ours =
    "import sys, json, numpy as np\n"
    "from safetensors.numpy import load_file\n"
    "from safetensors import safe_open\n"
    "path, spec_path = sys.argv[1], sys.argv[2]\n"
    "spec = json.load(open(spec_path, encoding='utf-8'))\n"
    "d = load_file(path)\n"
    "with safe_open(path, framework='np') as f: meta = f.metadata()\n"
    "dt = {'F32': np.float32, 'F64': np.float64, 'I32': np.int32, 'U8': np.uint8, 'I64': np.int64}\n"
    "assert sorted(d) == sorted(spec['tensors']), (sorted(d), sorted(spec['tensors']))\n"
    "for name, (dtype, shape, binpath) in spec['tensors'].items():\n"
    "    a = d[name]\n"
    "    assert a.dtype == dt[dtype], (name, a.dtype)\n"
    "    assert list(a.shape) == shape, (name, a.shape, shape)\n"
    "    assert a.tobytes() == open(binpath, 'rb').read(), name\n"
    "assert meta == spec['meta'], (meta, spec['meta'])\n"
    "print('  python: %d tensors and %d metadata entries identical' % (len(d), len(meta)))\n";

EB_TEST(safetensors_python_reads_ours) {
    if (!python_has_safetensors()) {
        printf("  python3 with numpy + safetensors not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    g_rng = 202;
    char dir[64], path[128], spec_path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ours.safetensors", dir);
    snprintf(spec_path, sizeof spec_path, "%s/spec.json", dir);
    static ckpt_fixture f;
    fixture_init(&f);
    EB_CHECK_OK(eb_safetensors_write(path, f.e, 7, f.m, 4));

    /* the expected content, as JSON made with our escaper (Python's json parser checks it too) */
    FILE *sp = fopen(spec_path, "wb");
    EB_CHECK(sp != NULL, "spec file");
    char esc[1024];
    fprintf(sp, "{\"tensors\": {");
    for (int i = 0; i < 7; i++) {
        char bin[160];
        snprintf(bin, sizeof bin, "%s/t%d.bin", dir, i);
        EB_CHECK(write_plain(bin, f.e[i].data ? f.e[i].data : "", entry_bytes(&f.e[i])), "bin");
        eb_json_escape(esc, sizeof esc, f.e[i].name);
        fprintf(sp, "%s\"%s\": [\"%s\", [", i ? ", " : "", esc, eb_st_dtype_name(f.e[i].dtype));
        for (int k = 0; k < f.e[i].ndim; k++) fprintf(sp, "%s%lld", k ? ", " : "", (long long)f.e[i].shape[k]);
        fprintf(sp, "], \"%s\"]", bin);
    }
    fprintf(sp, "}, \"meta\": {");
    for (int i = 0; i < 4; i++) {
        eb_json_escape(esc, sizeof esc, f.m[i].key);
        fprintf(sp, "%s\"%s\": ", i ? ", " : "", esc);
        eb_json_escape(esc, sizeof esc, f.m[i].value);
        fprintf(sp, "\"%s\"", esc);
    }
    fprintf(sp, "}}\n");
    fclose(sp);
    char args[300];
    snprintf(args, sizeof args, "'%s' '%s'", path, spec_path);
    int rc = run_python(dir, "check.py", py_check_ours, args);
    EB_CHECK(rc == 0, "python check failed (status %d); files kept in %s", rc, dir);
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* (2) reference -> ours: Python writes random tensors of several dtypes (its writer orders the data
 * buffer by alignment and name, not like ours) with metadata; we must read exactly its bytes. */
static const char *py_write =
    "import sys, numpy as np\n"
    "from safetensors.numpy import save_file\n"
    "out = sys.argv[1]\n"
    "rng = np.random.default_rng(12345)\n"
    "t = {\n"
    "  'G.net.0.weight': rng.standard_normal((64, 2)).astype(np.float32),\n"
    "  'G.net.0.bias': rng.standard_normal((64,)).astype(np.float32),\n"
    "  'adam.v': rng.standard_normal((3, 4, 5)).astype(np.float64),\n"
    "  'labels': rng.integers(0, 255, size=(17,), dtype=np.uint8),\n"
    "  'counts': rng.integers(-2**31, 2**31 - 1, size=(2, 3), dtype=np.int32),\n"
    "  'step': np.array(123456789012, dtype=np.int64),\n"
    "  'zero': np.zeros((0, 3), dtype=np.float32),\n"
    "  'caf\\u00e9 \"q\"': rng.standard_normal((2, 2, 2, 2)).astype(np.float32),\n"
    "}\n"
    "save_file(t, out + '/py.safetensors', metadata={'step': '123456789012', 'who': 'python \"ref\" \\u00e9\\n'})\n"
    "with open(out + '/listing.txt', 'w', encoding='utf-8') as f:\n"
    "    for i, (k, a) in enumerate(t.items()):\n"
    "        a.tofile(out + '/p%d.bin' % i)\n"
    "        f.write('%s\\t%s\\t%s\\n' % (k, a.dtype.str, ' '.join(str(s) for s in a.shape)))\n";

EB_TEST(safetensors_ours_reads_python) {
    if (!python_has_safetensors()) {
        printf("  python3 with numpy + safetensors not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    char dir[64], path[128], listing[128];
    tmpdir_make(dir, sizeof dir);
    char args[100];
    snprintf(args, sizeof args, "'%s'", dir);
    int prc = run_python(dir, "write.py", py_write, args);
    EB_CHECK(prc == 0, "python writer failed (status %d)", prc);
    snprintf(path, sizeof path, "%s/py.safetensors", dir);
    snprintf(listing, sizeof listing, "%s/listing.txt", dir);

    eb_safetensors st;
    EB_CHECK_OK(eb_safetensors_open(&st, path));
    EB_CHECK(eb_safetensors_count(&st) == 8, "count %d", eb_safetensors_count(&st));
    FILE *lf = fopen(listing, "r");
    EB_CHECK(lf != NULL, "listing");
    char line[512];
    int i = 0;
    while (fgets(line, sizeof line, lf)) {
        char *name = strtok(line, "\t"), *dts = strtok(NULL, "\t"), *shp = strtok(NULL, "\t\n");
        eb_st_dtype want = !strcmp(dts, "<f4") ? EB_ST_F32 : !strcmp(dts, "<f8") ? EB_ST_F64
                         : !strcmp(dts, "|u1") ? EB_ST_U8 : !strcmp(dts, "<i4") ? EB_ST_I32
                         : !strcmp(dts, "<i8") ? EB_ST_I64 : EB_ST_DTYPE_COUNT;
        EB_CHECK(want != EB_ST_DTYPE_COUNT, "dtype %s", dts);
        int64_t shape[EB_ST_MAX_DIMS];
        int ndim = 0;
        for (char *tok = shp ? strtok(shp, " ") : NULL; tok; tok = strtok(NULL, " ")) shape[ndim++] = atoll(tok);
        char bin[160];
        snprintf(bin, sizeof bin, "%s/p%d.bin", dir, i);
        size_t nb;
        unsigned char *ref = read_all(bin, &nb);
        EB_CHECK(ref != NULL, "bin %s", bin);
        unsigned char *got = malloc(nb + 1);
        EB_CHECK_OK(eb_safetensors_get(&st, name, want, ndim, shape, got, nb));
        EB_CHECK(!memcmp(got, ref, nb), "tensor %s differs from numpy's bytes", name);
        free(got);
        free(ref);
        i++;
    }
    fclose(lf);
    EB_CHECK(i == 8, "listing has %d lines", i);
    const char *v = eb_safetensors_meta(&st, "step");
    EB_CHECK(v && !strcmp(v, "123456789012"), "meta step %s", v ? v : "(null)");
    v = eb_safetensors_meta(&st, "who");
    EB_CHECK(v && !strcmp(v, "python \"ref\" \xc3\xa9\n"), "meta who '%s'", v ? v : "(null)");
    EB_CHECK(eb_safetensors_meta_count(&st) == 2, "meta count %d", eb_safetensors_meta_count(&st));
    printf("  read %d tensors + 2 metadata entries written by Python, bytes identical\n", i);
    eb_safetensors_close(&st);
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* Builds a file from a header text and `data_len` random data bytes (header padded to 8). */
static int write_raw_st(const char *path, const char *header, size_t data_len) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *buf = malloc(8 + padded + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    rnd_bytes(buf + 8 + padded, data_len);
    int ok = write_plain(path, buf, 8 + padded + data_len);
    free(buf);
    return ok;
}

typedef struct { const char *header; size_t data_len; const char *expect; } bad_case;

EB_TEST(safetensors_corrupt_files_rejected) {
    g_rng = 303;
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    static const bad_case cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "after an entry"},
        {"{\"a\":{\"dtype\":\"F32", 0, "unterminated string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]};", 8, "expected ',' or '}'"},
        {"{\"a\":{\"dtype\":\"F32\" \"shape\":[2],\"data_offsets\":[0,8]}}", 8, "expected ',' or '}'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "out of bounds"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not match"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "contiguous"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "contiguous"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "appears twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "fraction"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "needs 2 entries"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unexpected or repeated"},
        {"{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
         "values must be strings"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "metadata key 'k' appears twice"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1, "trailing characters"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 5, "trailing bytes"},
        {"{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "surrogate"},
        {"{\"a\\q\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "invalid escape"},
        {"{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "not valid UTF-8"},
        {"[1,2]", 0, "expected '{'"},
        {"{\"a\":[1]}", 0, "expected '{' (a tensor entry)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999,99999999999],\"data_offsets\":[0,8]}}", 8,
         "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "more than 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, "too large"},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    eb_safetensors st;
    for (int i = 0; i < n_cases; i++) {
        EB_CHECK(write_raw_st(path, cases[i].header, cases[i].data_len), "write");
        eb_status rc = eb_safetensors_open(&st, path);
        EB_CHECK(rc == EB_ERR_FORMAT, "case %d (%s): status %d, message %s", i, cases[i].header, (int)rc,
                 eb_error_message());
        EB_CHECK(strstr(eb_error_message(), path) && strstr(eb_error_message(), cases[i].expect),
                 "case %d: message '%s' lacks the path or '%s'", i, eb_error_message(), cases[i].expect);
        if (i < 6) printf("  %s\n", eb_error_message());
    }
    /* framing errors: truncated length, header length beyond the file / absurd */
    EB_CHECK(write_plain(path, "\x10\0\0", 3), "write");
    EB_CHECK(eb_safetensors_open(&st, path) == EB_ERR_FORMAT && strstr(eb_error_message(), "too short"), "%s",
             eb_error_message());
    printf("  %s\n", eb_error_message());
    unsigned char hdr[24] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    memset(hdr + 10, ' ', 14);
    EB_CHECK(write_plain(path, hdr, sizeof hdr), "write");
    EB_CHECK(eb_safetensors_open(&st, path) == EB_ERR_FORMAT && strstr(eb_error_message(), "exceeds the file size"),
             "%s", eb_error_message());
    printf("  %s\n", eb_error_message());
    hdr[5] = 1; /* 2^40 + 200 */
    EB_CHECK(write_plain(path, hdr, sizeof hdr), "write");
    EB_CHECK(eb_safetensors_open(&st, path) == EB_ERR_FORMAT && strstr(eb_error_message(), "header length"), "%s",
             eb_error_message());
    /* a valid file truncated anywhere (inside the header or the data) is rejected */
    static ckpt_fixture f;
    fixture_init(&f);
    char good[128];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    EB_CHECK_OK(eb_safetensors_write(good, f.e, 7, f.m, 4));
    size_t len;
    unsigned char *bytes = read_all(good, &len);
    size_t cuts[] = {0, 7, 8, 9, 100, len / 2, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        EB_CHECK(write_plain(path, bytes, cuts[k]), "write");
        EB_CHECK(eb_safetensors_open(&st, path) == EB_ERR_FORMAT, "truncation at %zu accepted", cuts[k]);
    }
    free(bytes);
    /* a hand-written, pretty-printed header with escapes and an empty file of tensors is fine */
    EB_CHECK(write_raw_st(path, "{\n  \"__metadata__\" : { \"k\\u00e9\\ud83d\\ude00\" : \"v\\/\\\"\" } ,\n"
                                "  \"n\\tm\" : { \"shape\" : [ 1 , 2 ] , \"dtype\" : \"I64\" ,"
                                " \"data_offsets\" : [ 0 , 16 ] }\n}", 16), "write");
    EB_CHECK_OK(eb_safetensors_open(&st, path));
    EB_CHECK(eb_safetensors_find(&st, "n\tm") != NULL, "escaped name not decoded");
    const char *mv = eb_safetensors_meta(&st, "k\xc3\xa9\xf0\x9f\x98\x80");
    EB_CHECK(mv && !strcmp(mv, "v/\""), "escaped metadata not decoded: %s", mv ? mv : "(null)");
    eb_safetensors_close(&st);
    EB_CHECK(write_raw_st(path, "{}", 0), "write");
    EB_CHECK_OK(eb_safetensors_open(&st, path));
    EB_CHECK(eb_safetensors_count(&st) == 0, "empty");
    eb_safetensors_close(&st);
    EB_CHECK(eb_safetensors_open(&st, "/tmp/eb_test_io_missing.safetensors") == EB_ERR_IO, "missing file");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* Random byte flips (1-4 bytes, 3 in 4 inside the header, where the parser works) and random truncations
 * of a valid file: the reader must return OK or an error, never crash or read out of bounds (this case
 * is also run under AddressSanitizer; see the report). Flips that keep the file valid must read back. */
EB_TEST(safetensors_random_corruption_never_crashes) {
    g_rng = 404;
    char dir[64], good[128], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(path, sizeof path, "%s/fuzz.safetensors", dir);
    static ckpt_fixture f;
    fixture_init(&f);
    EB_CHECK_OK(eb_safetensors_write(good, f.e, 7, f.m, 4));
    size_t len;
    unsigned char *orig = read_all(good, &len);
    size_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (size_t)orig[i] << (8 * i);
    unsigned char *buf = malloc(len);
    static unsigned char scratch[65536];
    int n_ok = 0, n_fmt = 0, iters = 3000;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, orig, len);
        size_t cut = len;
        int flips = 1 + (int)(rnd_u64() % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = rnd_u64() % 4 != 0 ? rnd_u64() % (8 + hlen) : rnd_u64() % len;
            if (rnd_u64() % 2) buf[pos] ^= (unsigned char)(1u << (rnd_u64() % 8));
            else { static const char alphabet[] = "{}[]\":,\\ 0123456789eE.-uF\xff\x80"; buf[pos] = (unsigned char)alphabet[rnd_u64() % (sizeof alphabet - 1)]; }
        }
        if (rnd_u64() % 8 == 0) cut = rnd_u64() % len;
        EB_CHECK(write_plain(path, buf, cut), "write");
        eb_safetensors st;
        eb_status rc = eb_safetensors_open(&st, path);
        EB_CHECK(rc == EB_OK || rc == EB_ERR_FORMAT, "iteration %d: status %d (%s)", it, (int)rc, eb_error_message());
        if (rc == EB_OK) {
            n_ok++;
            for (int i = 0; i < eb_safetensors_count(&st); i++) {
                const eb_st_info *t = eb_safetensors_at(&st, i);
                if (t->end - t->begin <= sizeof scratch) EB_CHECK_OK(eb_safetensors_read(&st, t, scratch, sizeof scratch));
                (void)eb_safetensors_get(&st, t->name, EB_ST_F32, 2, f.e[0].shape, scratch, sizeof scratch);
            }
            eb_safetensors_close(&st);
        } else {
            n_fmt++;
            EB_CHECK(strstr(eb_error_message(), path) != NULL, "message lacks the path: %s", eb_error_message());
        }
    }
    printf("  %d corrupted files: %d still valid, %d rejected with EB_ERR_FORMAT\n", iters, n_ok, n_fmt);
    EB_CHECK(n_fmt > iters / 2, "suspiciously few rejections (%d)", n_fmt);
    free(buf);
    free(orig);
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* ======================= PNG ======================= */

/* Reads a PNG with libpng's simplified API in its stored format (gray or RGB). */
static uint8_t *png_read(const char *path, int *w, int *h, int *channels) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return NULL;
    *channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    img.format = *channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&img);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

EB_TEST(png_write_reads_back) {
    g_rng = 505;
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/img.png", dir);
    for (int channels = 1; channels <= 3; channels += 2) {
        int W = 37, H = 21;
        uint8_t px[37 * 21 * 3];
        rnd_bytes(px, sizeof px);
        EB_CHECK_OK(eb_png_write(path, px, W, H, channels));
        int w, h, c;
        uint8_t *got = png_read(path, &w, &h, &c);
        EB_CHECK(got && w == W && h == H && c == channels, "read back %dx%d c=%d", w, h, c);
        EB_CHECK(!memcmp(got, px, (size_t)W * H * channels), "pixels differ (channels %d)", channels);
        free(got);
    }
    EB_CHECK(eb_png_write(path, (const uint8_t *)"", 0, 5, 3) == EB_ERR_ARG, "zero width accepted");
    EB_CHECK(count_temps(dir) == 0, "temp file left behind");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

EB_TEST(png_grid_layout_and_values) {
    g_rng = 606;
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/grid.png", dir);
    for (int c = 1; c <= 3; c += 2) {
        enum { N = 5, H = 4, W = 6, NROW = 3 };
        float x[N * 3 * H * W];
        for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)(rnd_uniform() * 2.4 - 1.2); /* clamps too */
        x[0] = -1.0f;
        x[1] = 1.0f;
        x[2] = 0.0f;
        EB_CHECK_OK(eb_png_write_grid(path, x, N, c, H, W, NROW));
        int w, h, ch;
        uint8_t *g = png_read(path, &w, &h, &ch);
        /* torchvision layout: 3 columns x 2 rows of 4x6 tiles, 2 px padding around and between */
        EB_CHECK(g && w == 3 * (W + 2) + 2 && h == 2 * (H + 2) + 2 && ch == c, "grid %dx%d c=%d", w, h, ch);
        for (int i = 0; i < 6; i++) /* tile 5 is an empty slot: black */
            for (int k = 0; k < c; k++)
                for (int yy = 0; yy < H; yy++)
                    for (int xx = 0; xx < W; xx++) {
                        int gx = 2 + (i % 3) * (W + 2) + xx, gy = 2 + (i / 3) * (H + 2) + yy;
                        int got = g[((size_t)gy * w + gx) * c + k];
                        int want = 0;
                        if (i < N) {
                            double v = x[((size_t)(i * c + k) * H + yy) * W + xx];
                            v = v < -1 ? -1 : v > 1 ? 1 : v;
                            want = (int)floor((v + 1) * 127.5 + 0.5); /* independent of eb_grid_pixel */
                        }
                        EB_CHECK(got == want, "c=%d tile %d ch %d (%d,%d): %d, want %d", c, i, k, yy, xx, got, want);
                    }
        EB_CHECK(g[0] == 0 && g[((size_t)(2 + H) * w + 5) * c] == 0, "padding not black");
        EB_CHECK(g[((size_t)2 * w + 2) * c] == 0 && g[((size_t)2 * w + 3) * c] == 255 &&
                 g[((size_t)2 * w + 4) * c] == 128, "-1/1/0 map to %d/%d/%d", g[((size_t)2 * w + 2) * c],
                 g[((size_t)2 * w + 3) * c], g[((size_t)2 * w + 4) * c]);
        free(g);
    }
    EB_CHECK(eb_grid_pixel(NAN) == 0 && eb_grid_pixel(5.0f) == 255 && eb_grid_pixel(-5.0f) == 0, "clamping");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* Heat map with a linear energy U = a x + b y: bilinear interpolation reproduces it exactly (up to
 * float rounding of the grid values), so every pixel's colour is known in closed form (within 1 level
 * per channel: the grid holds floats, the check uses doubles). Dots must sit at their points. */
EB_TEST(png_heatmap_colours_and_dots) {
    g_rng = 707;
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/energy.png", dir);
    enum { G = 33, S = 200 };
    const double xmin = -2, xmax = 2, ymin = -1, ymax = 3, a = 0.7 + rnd_uniform(), b = -0.3 - rnd_uniform();
    static float U[G * G];
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++)
            U[iy * G + ix] = (float)(a * (xmin + ix * (xmax - xmin) / (G - 1)) + b * (ymin + iy * (ymax - ymin) / (G - 1)));
    double umin = a * xmin + b * ymax, umax = a * xmax + b * ymin;
    float pts[4 * 2] = {0.5f, 0.25f, -1.9f, 2.9f, 1.3f, -0.6f, 10.0f, 10.0f}; /* the last is off-screen */
    uint8_t dot[3] = {EB_HEATMAP_DOT_RGB};
    for (int mode = 0; mode < 2; mode++) {
        eb_heatmap_spec sp = {U, G, (float)xmin, (float)xmax, (float)ymin, (float)ymax, pts, 4, S, mode};
        EB_CHECK_OK(eb_png_write_heatmap(path, &sp));
        int w, h, c;
        uint8_t *img = png_read(path, &w, &h, &c);
        EB_CHECK(img && w == S && h == S && c == 3, "heat map %dx%d c=%d", w, h, c);
        int checked = 0, worst = 0;
        for (int py = 0; py < S; py += 7)
            for (int px = 0; px < S; px += 5) {
                double x = xmin + (px + 0.5) / S * (xmax - xmin), y = ymax - (py + 0.5) / S * (ymax - ymin);
                int near_dot = 0;
                for (int k = 0; k < 4; k++) {
                    double dx = (x - pts[2 * k]) / (xmax - xmin) * S, dy = (y - pts[2 * k + 1]) / (ymax - ymin) * S;
                    if (dx * dx + dy * dy < 16) near_dot = 1;
                }
                if (near_dot) continue;
                double u = a * x + b * y;
                double t = mode ? exp(-(u - umin)) : (u - umin) / (umax - umin);
                uint8_t want[3];
                eb_colormap_viridis(t, want);
                const uint8_t *gotp = img + ((size_t)py * S + px) * 3;
                for (int k = 0; k < 3; k++) {
                    int d = abs((int)gotp[k] - (int)want[k]);
                    if (d > worst) worst = d;
                }
                checked++;
            }
        EB_CHECK(worst <= 1, "mode %d: pixel colour off by %d levels", mode, worst);
        for (int k = 0; k < 3; k++) {
            int px = (int)((pts[2 * k] - xmin) / (xmax - xmin) * S), py = (int)((ymax - pts[2 * k + 1]) / (ymax - ymin) * S);
            const uint8_t *p = img + ((size_t)py * S + px) * 3;
            EB_CHECK(p[0] == dot[0] && p[1] == dot[1] && p[2] == dot[2], "no dot at point %d (%d,%d)", k, px, py);
            const uint8_t *q = img + ((size_t)py * S + px + 4) * 3; /* outside the radius-2 disc */
            EB_CHECK(!(q[0] == dot[0] && q[1] == dot[1] && q[2] == dot[2]), "dot too large at point %d", k);
        }
        printf("  mode %s: %d pixels within %d level(s) of viridis(t), 3 dots in place\n",
               mode ? "density exp(-U)" : "energy U", checked, worst);
        free(img);
    }
    uint8_t lo[3], hi[3];
    eb_colormap_viridis(0.0, lo);
    eb_colormap_viridis(1.0, hi);
    EB_CHECK(lo[0] == 68 && lo[1] == 1 && lo[2] == 84 && hi[0] == 253 && hi[1] == 231 && hi[2] == 37,
             "viridis ends (%d,%d,%d) (%d,%d,%d)", lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
    /* NaN energy shows grey */
    U[(G / 2) * G + G / 2] = NAN;
    static uint8_t img[S * S * 3];
    eb_heatmap_spec sp = {U, G, (float)xmin, (float)xmax, (float)ymin, (float)ymax, NULL, 0, S, 0};
    EB_CHECK_OK(eb_heatmap_render(img, &sp));
    const uint8_t *mid = img + ((size_t)(S / 2) * S + S / 2) * 3;
    EB_CHECK(mid[0] == 128 && mid[1] == 128 && mid[2] == 128, "NaN pixel (%d,%d,%d)", mid[0], mid[1], mid[2]);
    sp.xmax = sp.xmin;
    EB_CHECK(eb_heatmap_render(img, &sp) == EB_ERR_ARG, "empty x range accepted");
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

/* ======================= JSON ======================= */

EB_TEST(json_escape_cases) {
    char out[128];
    size_t n = eb_json_escape(out, sizeof out, "a\"b\\c\n\t\x01\x1f/\xc3\xa9\xf0\x9f\x98\x80");
    const char *want = "a\\\"b\\\\c\\n\\t\\u0001\\u001f/\xc3\xa9\xf0\x9f\x98\x80";
    EB_CHECK(!strcmp(out, want) && n == strlen(want), "got '%s' (%zu)", out, n);
    n = eb_json_escape(out, sizeof out, "x\xffy\xed\xa0\x80z\xc3");
    want = "x\\ufffdy\\ufffd\\ufffd\\ufffdz\\ufffd"; /* invalid byte, a UTF-8-encoded surrogate, truncated */
    EB_CHECK(!strcmp(out, want) && n == strlen(want), "got '%s'", out);
    char small[5];
    n = eb_json_escape(small, sizeof small, "abc\"def");
    EB_CHECK(n == 8 && !strcmp(small, "abc\\"), "truncation: n=%zu '%s'", n, small);
    EB_CHECK(eb_json_escape(NULL, 0, "\n") == 2, "size query");
    EB_CHECK(eb_utf8_valid_len("ok\xc3\xa9\xc0\xaf", 6) == 4, "overlong form accepted");
    return EB_TEST_PASS;
}

EB_TEST(jsonl_appends_lines) {
    char dir[64], path[128];
    tmpdir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    eb_jsonl j;
    static eb_json_line l;
    EB_CHECK_OK(eb_jsonl_open(&j, path, 1));
    eb_json_line_begin(&l);
    eb_json_line_int(&l, "step", 0);
    eb_json_line_num(&l, "loss_u", 0.1);
    eb_json_line_num(&l, "lr", 1e-4);
    eb_json_line_num(&l, "f", (double)0.1f);
    eb_json_line_num(&l, "three", 3.0);
    eb_json_line_num(&l, "nan", NAN);
    eb_json_line_num(&l, "inf", -INFINITY);
    eb_json_line_end(&l);
    EB_CHECK_OK(eb_jsonl_append(&j, &l));
    eb_json_line_begin(&l);
    eb_json_line_int(&l, "min", INT64_MIN);
    eb_json_line_str(&l, "msg", "say \"hi\"\n");
    eb_json_line_bool(&l, "ok", 1);
    eb_json_line_end(&l);
    EB_CHECK_OK(eb_jsonl_append(&j, &l));
    eb_jsonl_close(&j);
    /* a crash mid-line: the next open terminates the partial line */
    int fd = open(path, O_WRONLY | O_APPEND);
    EB_CHECK(fd >= 0 && write(fd, "{\"step\":2", 9) == 9, "partial write");
    close(fd);
    EB_CHECK_OK(eb_jsonl_open(&j, path, 0));
    EB_CHECK_OK(eb_jsonl_append_text(&j, "{\"step\":3}"));
    EB_CHECK(eb_jsonl_append_text(&j, "{\n}") == EB_ERR_ARG, "newline accepted");
    EB_CHECK_OK(eb_jsonl_sync(&j));
    eb_jsonl_close(&j);
    size_t n;
    char *text = (char *)read_all(path, &n);
    const char *want =
        "{\"step\":0,\"loss_u\":0.1,\"lr\":0.0001,\"f\":0.10000000149011612,\"three\":3,\"nan\":null,\"inf\":null}\n"
        "{\"min\":-9223372036854775808,\"msg\":\"say \\\"hi\\\"\\n\",\"ok\":true}\n"
        "{\"step\":2\n"
        "{\"step\":3}\n";
    EB_CHECK(text && !strcmp(text, want), "file content:\n%s\nwanted:\n%s", text ? text : "(null)", want);
    free(text);
    /* overflow is reported, not truncated */
    static char longv[EB_JSON_LINE_MAX + 10];
    memset(longv, 'x', sizeof longv - 1);
    eb_json_line_begin(&l);
    eb_json_line_str(&l, "long", longv);
    eb_json_line_end(&l);
    EB_CHECK_OK(eb_jsonl_open(&j, path, 0));
    EB_CHECK(eb_jsonl_append(&j, &l) == EB_ERR_ARG && strstr(eb_error_message(), path), "overflow: %s",
             eb_error_message());
    eb_jsonl_close(&j);
    tmpdir_remove(dir);
    return EB_TEST_PASS;
}

EB_TEST(jsonl_write_error_is_io) {
    eb_jsonl j;
    if (eb_jsonl_open(&j, "/dev/full", 0) != EB_OK) {
        printf("  /dev/full not available (%s): skipped\n", eb_error_message());
        return EB_TEST_SKIP;
    }
    EB_CHECK(eb_jsonl_append_text(&j, "{\"a\":1}") == EB_ERR_IO, "write to /dev/full succeeded");
    EB_CHECK(strstr(eb_error_message(), "/dev/full") && strstr(eb_error_message(), strerror(ENOSPC)), "%s",
             eb_error_message());
    printf("  message: %s\n", eb_error_message());
    eb_jsonl_close(&j);
    return EB_TEST_PASS;
}

EB_TEST(json_line_writes_non_finite_numbers_as_null) {
    eb_json_line l;
    eb_json_line_begin(&l);
    eb_json_line_num(&l, "a", INFINITY);
    eb_json_line_num(&l, "b", -INFINITY);
    eb_json_line_num(&l, "c", NAN);
    eb_json_line_num(&l, "d", 0.5);
    eb_json_line_end(&l);
    EB_CHECK(!strcmp(l.buf, "{\"a\":null,\"b\":null,\"c\":null,\"d\":0.5}"), "got %s", l.buf);
    return EB_TEST_PASS;
}

EB_TEST(jsonl_failed_append_leaves_no_torn_line) {
    char dir[] = "/tmp/eb_test_jsonl_XXXXXX", path[256];
    EB_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    /* in a child: a file-size limit 10 bytes past the first line, so the second line is written in part
     * and then refused (EFBIG), as a disk filling up mid-line */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        eb_jsonl j;
        if (eb_jsonl_open(&j, path, 0) != EB_OK || eb_jsonl_append_text(&j, "{\"step\":1}") != EB_OK) _exit(2);
        struct rlimit rl = {11 + 10, 11 + 10};
        setrlimit(RLIMIT_FSIZE, &rl);
        eb_status st = eb_jsonl_append_text(&j, "{\"step\":2,\"a_long_enough_member\":12345678901234567890}");
        eb_jsonl_close(&j);
        _exit(st == EB_ERR_IO ? 0 : 3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EB_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the failed append was not EB_ERR_IO (status %d)", status);
    FILE *f = fopen(path, "rb");
    char buf[256] = {0};
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    EB_CHECK(n == 11 && !strcmp(buf, "{\"step\":1}\n"), "file holds %zu bytes after the failure: '%s'", n, buf);
    unlink(path);
    rmdir(dir);
    return EB_TEST_PASS;
}
