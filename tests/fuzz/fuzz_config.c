/* libFuzzer: the config loader, file and environment: the input is the
 * YAML file, and its lines again as VIGIL_* variables. Refused with the
 * line at fault, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static vg_config_t cfg;
    char path[] = "/tmp/vigil-fuzz-config-XXXXXX", err[1024], *env[17], *copy;
    int fd = mkstemp(path);
    size_t n = 0;

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    vg_config_defaults(&cfg);
    (void)vg_config_load_file(&cfg, path, err, sizeof(err));
    unlink(path);
    /* The same bytes as environment lines. */
    if ((copy = malloc(size + 1))) {
        memcpy(copy, data, size);
        copy[size] = '\0';
        for (char *line = strtok(copy, "\n"); line && n < 16; line = strtok(NULL, "\n"))
            env[n++] = line;
        env[n] = NULL;
        vg_config_defaults(&cfg);
        (void)vg_config_load_env(&cfg, env, err, sizeof(err));
        (void)vg_config_validate(&cfg, err, sizeof(err));
        free(copy);
    }
    return 0;
}
