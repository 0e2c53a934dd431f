/* Input files that must be regular files: a FIFO would block the open or the read forever, a device such as
 * /dev/zero never ends, a directory reads as empty; each is refused with a one-line error before opening. */
#ifndef EBGAN_REGULAR_FILE_H
#define EBGAN_REGULAR_FILE_H

#include <stdint.h>
#include "ebgan/status.h"

/* EB_OK when `path` (symlinks followed) is a regular file, its size in *bytes when bytes != NULL;
 * otherwise EB_ERR_IO "<what> <path>: is a FIFO / a device / a directory, not a regular file"
 * or "<what> <path>: <strerror>". */
eb_status eb_check_regular_file(const char *path, const char *what, uint64_t *bytes);

#endif
