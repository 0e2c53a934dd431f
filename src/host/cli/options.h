/* One option table per command: getopt_long options, defaults, `--config FILE` (key = value lines, the
 * same names) and the printout of every resolved setting all come from the same table. */
#ifndef EBGAN_CLI_OPTIONS_H
#define EBGAN_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

/* EB_OPT_FLAG: an int set to 1 by the bare option (--anomaly); "0" / "1" in a --config file. */
typedef enum eb_opt_kind { EB_OPT_STR, EB_OPT_INT, EB_OPT_I64, EB_OPT_U64, EB_OPT_DBL, EB_OPT_FLAG } eb_opt_kind;

typedef struct eb_opt {
    const char *name;   /* long option name, also the config key */
    eb_opt_kind kind;
    size_t offset;      /* offsetof the field in the command's config struct */
    size_t size;        /* bytes of a string field (char array) */
    const char *def;    /* default value, as text */
    const char *help;
} eb_opt;

#define EB_OPTS_FILE_MAX (1u << 20) /* bytes of a --config file */

#define EB_OPT_FIELD(type, field) offsetof(type, field), sizeof(((type *)0)->field)

/* Sets defaults, then `--config FILE` if given, then the command line. Returns 0 on success,
 * 1 if --help was printed, -1 on error (message in err). */
int eb_opts_parse(const eb_opt *tab, int n, void *cfg, int argc, char **argv, const char *usage, char *err,
                  size_t errlen);
/* key = value lines (comments with #). */
int eb_opts_load_file(const eb_opt *tab, int n, void *cfg, const char *path, char *err, size_t errlen);
/* The same from text in memory (`origin` names it in messages: a path or "checkpoint X"). NUL bytes refused. */
int eb_opts_load_text(const eb_opt *tab, int n, void *cfg, const char *text, size_t len, const char *origin,
                      char *err, size_t errlen);
/* Marks given[i] = 1 for every table option present on the command line; *config_given for --config. */
void eb_opts_given(const eb_opt *tab, int n, int argc, char **argv, unsigned char *given, int *config_given);
/* The value of one option as config.txt prints it. */
void eb_opts_format(const eb_opt *o, const void *cfg, char *buf, size_t cap);
/* v in its shortest round-trip form: the fewest significant digits (%.1g .. %.17g) strtod reads back to v,
 * a whole number below 1e17 written out ("900", not "9e+02"). */
void eb_opts_format_double(double v, char *buf, size_t cap);
/* One "name = value" line per option (numbers in their shortest round-trip form). */
void eb_opts_print(const eb_opt *tab, int n, const void *cfg, FILE *f, const char *prefix);
void eb_opts_help(const eb_opt *tab, int n, FILE *f, const char *usage);

#endif
