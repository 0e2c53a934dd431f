/* ebgan-gpu devices: what the CUDA backend would run on, or why it cannot (the runtime's own error with the
 * driver's and the runtime's CUDA versions), as text and one JSON line; a machine check before a long job. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ebgan/backend.h"

static void version_text(int v, char *buf, size_t cap) {
    if (v <= 0) snprintf(buf, cap, "none");
    else snprintf(buf, cap, "%d.%d", v / 1000, v % 1000 / 10);
}

/* The reason as a JSON string body: quotes and backslashes escaped, control characters dropped. */
static void json_text(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 2 < cap; s++) {
        if (*s == '"' || *s == '\\') out[n++] = '\\';
        if ((unsigned char)*s >= 0x20) out[n++] = *s;
    }
    out[n] = '\0';
}

int eb_cli_devices(int argc, char **argv) {
    if (argc > 1) {
        const int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
        fprintf(help ? stdout : stderr,
                "usage: ebgan-gpu devices\n"
                "  lists the usable CUDA GPUs (compute capability 7.5 or above) with the driver's and the runtime's\n"
                "  CUDA versions, or says why there is none; exit 0 when at least one is usable, 1 otherwise\n");
        return help ? 0 : 2;
    }
    int drv = 0, rt = 0;
    eb_cuda_versions(&drv, &rt);
    char dv[16], rv[16], why[512], why_json[1100];
    version_text(drv, dv, sizeof dv);
    version_text(rt, rv, sizeof rv);
    const int n = eb_cuda_devices(why, sizeof why);
    printf("CUDA: driver supports %s, runtime %s; %d usable device%s\n", dv, rv, n, n == 1 ? "" : "s");
    int shown = 0;
    for (int d = 0; n > 0 && shown < 64; d++) {
        char name[256];
        int major = 0, minor = 0;
        size_t mem = 0;
        if (eb_cuda_device_info(d, name, sizeof name, &major, &minor, &mem) != EB_OK) break;
        printf("  %d: %s, compute capability %d.%d, %.1f GiB\n", d, name, major, minor,
               (double)mem / (1024.0 * 1024.0 * 1024.0));
        shown++;
    }
    json_text(n > 0 ? "" : why, why_json, sizeof why_json);
    printf("{\"cuda_driver\":\"%s\",\"cuda_runtime\":\"%s\",\"usable_devices\":%d,\"why_none\":\"%s\"}\n", dv, rv, n,
           why_json);
    if (n > 0) return 0;
    fprintf(stderr, "ebgan-gpu devices: no usable CUDA GPU: %s\n", why);
    return 1;
}
