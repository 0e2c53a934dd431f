/* The option table machinery: defaults, --config files and getopt_long parsing from one table, and the
 * printout of every resolved setting (the run directory's config.txt is that printout). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "ebgan/regular_file.h"
#include <stdlib.h>
#include <string.h>

static int set_value(const eb_opt *o, void *cfg, const char *v, char *err, size_t errlen) {
    char *base = (char *)cfg + o->offset, *end = NULL;
    errno = 0;
    switch (o->kind) {
    case EB_OPT_STR:
        if (strlen(v) >= o->size) {
            snprintf(err, errlen, "--%s: value longer than %zu characters", o->name, o->size - 1);
            return -1;
        }
        memcpy(base, v, strlen(v) + 1);
        return 0;
    case EB_OPT_FLAG:
        if (strcmp(v, "0") && strcmp(v, "1")) break;
        *(int *)base = v[0] == '1';
        return 0;
    case EB_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < INT32_MIN || x > INT32_MAX) break;
        *(int *)base = (int)x;
        return 0;
    }
    case EB_OPT_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) break;
        *(int64_t *)base = (int64_t)x;
        return 0;
    }
    case EB_OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') break;
        *(uint64_t *)base = (uint64_t)x;
        return 0;
    }
    case EB_OPT_DBL: {
        double x = strtod(v, &end);
        if (errno || end == v || *end) break;
        *(double *)base = x;
        return 0;
    }
    }
    snprintf(err, errlen, "--%s: '%s' is not a valid %s", o->name, v,
             o->kind == EB_OPT_DBL ? "number" : o->kind == EB_OPT_FLAG ? "flag (0 or 1)" : "integer");
    return -1;
}

static const eb_opt *find(const eb_opt *tab, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(tab[i].name, name)) return &tab[i];
    return NULL;
}

int eb_opts_load_file(const eb_opt *tab, int n, void *cfg, const char *path, char *err, size_t errlen) {
    /* a FIFO would block, /dev/zero never end, a directory read as empty (and the defaults run): refuse */
    uint64_t bytes = 0;
    if (eb_check_regular_file(path, "--config", &bytes) != EB_OK) {
        snprintf(err, errlen, "%s", eb_error_message());
        return -1;
    }
    if (bytes > EB_OPTS_FILE_MAX) {
        snprintf(err, errlen, "--config %s: %llu bytes, larger than a settings file can be (%u)", path,
                 (unsigned long long)bytes, EB_OPTS_FILE_MAX);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc((size_t)bytes + 1);
    size_t got = text ? fread(text, 1, (size_t)bytes, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "--config %s: %s", path, text ? "read error" : "out of memory");
        free(text);
        return -1;
    }
    int rc = eb_opts_load_text(tab, n, cfg, text, got, path, err, errlen);
    free(text);
    return rc;
}

int eb_opts_load_text(const eb_opt *tab, int n, void *cfg, const char *text, size_t len, const char *origin,
                      char *err, size_t errlen) {
    const char *path = origin;
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: holds a NUL byte: not a settings file (key = value lines)", path);
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t L0 = nl ? (size_t)(nl - (text + at)) : len - at;
        lineno++;
        if (L0 >= sizeof line) {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 1);
            return -1;
        }
        memcpy(line, text + at, L0);
        line[L0] = '\0';
        at += L0 + (nl ? 1 : 0);
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\0') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        char *ke = eq;
        while (ke > s && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t L = strlen(v);
        while (L && (v[L - 1] == '\n' || v[L - 1] == '\r' || v[L - 1] == ' ')) v[--L] = '\0';
        const eb_opt *o = find(tab, n, s);
        if (!o) {
            snprintf(err, errlen, "%s:%d: unknown setting '%s'", path, lineno, s);
            rc = -1;
            break;
        }
        if (set_value(o, cfg, v, err, errlen)) {
            rc = -1;
            break;
        }
    }
    return rc;
}

void eb_opts_given(const eb_opt *tab, int n, int argc, char **argv, unsigned char *given, int *config_given) {
    memset(given, 0, (size_t)n);
    *config_given = 0;
    struct option *lo = calloc((size_t)n + 3, sizeof *lo);
    if (!lo) return;
    for (int i = 0; i < n; i++)
        lo[i] = (struct option){tab[i].name, tab[i].kind == EB_OPT_FLAG ? no_argument : required_argument, NULL, 1000 + i};
    lo[n] = (struct option){"config", required_argument, NULL, 'c'};
    lo[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
    int c, idx; /* getopt_long itself, so that abbreviations (--it for --iters) count as given too */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", lo, &idx)) != -1) {
        if (c == 'c') *config_given = 1;
        else if (c >= 1000 && c < 1000 + n) given[c - 1000] = 1;
    }
    optind = 1;
    free(lo);
}

void eb_opts_format(const eb_opt *o, const void *cfg, char *buf, size_t cap) {
    const char *base = (const char *)cfg + o->offset;
    switch (o->kind) {
    case EB_OPT_STR: snprintf(buf, cap, "%s", base); break;
    case EB_OPT_INT: snprintf(buf, cap, "%d", *(const int *)base); break;
    case EB_OPT_I64: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)base); break;
    case EB_OPT_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)base); break;
    case EB_OPT_FLAG: snprintf(buf, cap, "%d", *(const int *)base); break;
    case EB_OPT_DBL: eb_opts_format_double(*(const double *)base, buf, cap); break;
    }
}

void eb_opts_help(const eb_opt *tab, int n, FILE *f, const char *usage) {
    fprintf(f, "%s\n\noptions:\n", usage);
    for (int i = 0; i < n; i++)
        fprintf(f, "  --%-14s %s (default: %s)\n", tab[i].name, tab[i].help,
                tab[i].def[0] ? tab[i].def : "\"\"");
    fprintf(f, "  --%-14s %s\n  --%-14s %s\n", "config FILE", "read settings from FILE (key = value lines)",
            "help", "show this help");
}

int eb_opts_parse(const eb_opt *tab, int n, void *cfg, int argc, char **argv, const char *usage, char *err,
                  size_t errlen) {
    for (int i = 0; i < n; i++)
        if (set_value(&tab[i], cfg, tab[i].def, err, errlen)) return -1;
    struct option *lo = calloc((size_t)n + 3, sizeof *lo);
    if (!lo) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        lo[i] = (struct option){tab[i].name, tab[i].kind == EB_OPT_FLAG ? no_argument : required_argument, NULL, 1000 + i};
    lo[n] = (struct option){"config", required_argument, NULL, 'c'};
    lo[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
    /* pass 1: --config, so that the command line overrides the file */
    int rc = 0, c, idx;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", lo, &idx)) != -1) {
        if (c == 'h') {
            eb_opts_help(tab, n, stdout, usage);
            free(lo);
            return 1;
        }
        if (c == 'c' && eb_opts_load_file(tab, n, cfg, optarg, err, errlen)) {
            rc = -1;
            break;
        }
    }
    /* pass 2: everything else, in order */
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", lo, &idx)) != -1) {
        if (c == 'c' || c == 'h') continue;
        if (c == '?' || c == ':') {
            snprintf(err, errlen, "%s '%s' (see --help)", c == ':' ? "missing value for" : "unknown option",
                     argv[optind - 1]);
            rc = -1;
        } else if (c >= 1000 && set_value(&tab[c - 1000], cfg, tab[c - 1000].kind == EB_OPT_FLAG ? "1" : optarg, err, errlen)) {
            rc = -1;
        }
    }
    if (rc == 0 && optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        rc = -1;
    }
    free(lo);
    return rc;
}

void eb_opts_format_double(double v, char *buf, size_t cap) {
    /* the fewest significant digits that strtod reads back to the same double: a person reads
     * "lambda = 0.1", not 0.10000000000000001, and --config still restores the exact value */
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v || v != v) break;
    }
    if (v != v || !strchr(buf, 'e')) return;
    /* %g turns to an exponent once the kept digits end before the decimal point ("9e+02"): v is then a
     * whole number, which below 1e17 reads better written out; all its digits are exact, so it reads back */
    const int exp10 = atoi(strchr(buf, 'e') + 1);
    if (exp10 < prec || exp10 >= 17) return;
    char whole[32];
    snprintf(whole, sizeof whole, "%.*g", exp10 + 1, v);
    if (strtod(whole, NULL) == v) snprintf(buf, cap, "%s", whole);
}

void eb_opts_print(const eb_opt *tab, int n, const void *cfg, FILE *f, const char *prefix) {
    for (int i = 0; i < n; i++) {
        const char *base = (const char *)cfg + tab[i].offset;
        fprintf(f, "%s%s = ", prefix, tab[i].name);
        switch (tab[i].kind) {
        case EB_OPT_STR: fprintf(f, "%s\n", base); break;
        case EB_OPT_INT:
        case EB_OPT_FLAG: fprintf(f, "%d\n", *(const int *)base); break;
        case EB_OPT_I64: fprintf(f, "%lld\n", (long long)*(const int64_t *)base); break;
        case EB_OPT_U64: fprintf(f, "%llu\n", (unsigned long long)*(const uint64_t *)base); break;
        case EB_OPT_DBL: {
            char num[32];
            eb_opts_format_double(*(const double *)base, num, sizeof num);
            fprintf(f, "%s\n", num);
            break;
        }
        }
    }
}
