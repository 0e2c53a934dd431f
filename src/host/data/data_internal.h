/* Helpers shared by the data loaders (not public API): owned string copies and size limits.
 * Kept here so each loader file stays one format (DESIGN.md §4). */
#ifndef EBGAN_DATA_INTERNAL_H
#define EBGAN_DATA_INTERNAL_H

#include <stdint.h>

/* Largest sample count: minibatch indices are int32 (gather_rows idx). */
#define EB_DATA_MAX_N ((int64_t)INT32_MAX)
/* Largest per-sample size accepted from a file header (elements): rejects nonsense headers early. */
#define EB_DATA_MAX_ROW ((int64_t)1 << 26)

/* malloc'd copy of s (NULL on allocation failure). */
char *eb_data_strdup(const char *s);

#endif
