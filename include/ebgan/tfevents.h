/* TensorBoard event files written without a protobuf library: TFRecord framing (length, masked CRC-32C,
 * payload, masked CRC-32C) around hand-encoded tensorflow.Event protos holding scalars and PNG images. */
#ifndef EBGAN_TFEVENTS_H
#define EBGAN_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ebgan/status.h"

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF): "123456789" ->
 * 0xE3069283. TFRecord stores it masked: ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2^32). */
uint32_t eb_crc32c(const void *data, size_t n);
uint32_t eb_crc32c_masked(const void *data, size_t n);

/* One scalar of a log step; the tag groups it in TensorBoard ("loss/u_loss"). */
typedef struct eb_tb_scalar { const char *tag; double value; } eb_tb_scalar;

/* An open event file, appended record by record (each flushed, so a live TensorBoard sees it). */
typedef struct eb_tfevents {
    FILE *fp;
    char path[4200];
    uint8_t *buf;       /* encoding scratch, grown as needed (logging only, never in the step) */
    size_t cap;
} eb_tfevents;

/* Creates dir (and its parents) and <dir>/events.out.tfevents.<unix seconds>.<hostname>, and writes the
 * file_version event ("brain.Event:2") at wall_time (seconds since the epoch). EB_ERR_IO naming the path
 * and the cause when it cannot be written. */
eb_status eb_tfevents_open(eb_tfevents *w, const char *dir, double wall_time);
/* One Event at `step` whose Summary holds n simple_value (float32) entries. */
eb_status eb_tfevents_scalars(eb_tfevents *w, int64_t step, double wall_time, const eb_tb_scalar *v, int n);
/* One Event at `step` holding a Summary.Image: the PNG bytes as they are, with its size and colour space
 * (channels 1 gray, 3 RGB). */
eb_status eb_tfevents_image(eb_tfevents *w, int64_t step, double wall_time, const char *tag, const void *png,
                            size_t png_bytes, int width, int height, int channels);
/* A SessionLog START event at `step`: TensorBoard then drops every event at a step >= `step` logged before it.
 * A run resuming from a checkpoint at step S writes it at S + 1: what an interrupted session logged past its
 * checkpoint is replayed, and shown once. */
eb_status eb_tfevents_session_start(eb_tfevents *w, int64_t step, double wall_time);
/* Closes the file (safe on a zeroed struct). */
void eb_tfevents_close(eb_tfevents *w);

/* Seconds since the epoch (CLOCK_REALTIME), the Events' wall_time. */
double eb_tfevents_now(void);

#endif
