/* The one check every reader of a user-named input makes before opening it (a FIFO blocks, a device never
 * ends, a directory reads as empty): stat, follow links, accept only regular files. */
#include "ebgan/regular_file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

eb_status eb_check_regular_file(const char *path, const char *what, uint64_t *bytes) {
    struct stat sb;
    if (stat(path, &sb) != 0) return EB_FAIL(EB_ERR_IO, "%s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) {
        const char *kind = S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISDIR(sb.st_mode) ? "a directory"
                         : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : S_ISSOCK(sb.st_mode) ? "a socket"
                         : "not a plain file";
        return EB_FAIL(EB_ERR_IO, "%s %s: is %s, not a regular file", what, path, kind);
    }
    if (bytes) *bytes = (uint64_t)sb.st_size;
    return EB_OK;
}
