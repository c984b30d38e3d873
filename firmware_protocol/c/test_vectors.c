/*
 * test_vectors.c - host unit tests of dmi_protocol.c against firmware_protocol/vectors/vectors.tsv
 * (the same file the Python tests read), plus packetizer and SI-conversion tests.
 *
 *   test_vectors VECTORS.tsv          run all tests, print a summary, exit 1 on any failure
 *   test_vectors --packetize N SPP COMPACT FIRST_COUNTER FIRST_TS_US
 *                                     print the packets (hex, one per line) of a deterministic
 *                                     1000 Hz recording, for the Python cross-check
 */
#include "dmi_protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 8192
#define MAX_BYTES 1024
#define MAX_FIELDS 48
#define MAX_LIST 256

static int g_checks = 0;
static int g_failures = 0;
static const char *g_vector = "";

#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        ++g_checks;                                                                                   \
        if (!(cond)) {                                                                                \
            ++g_failures;                                                                             \
            fprintf(stderr, "FAIL %s: %s (line %d)\n", g_vector, #cond, __LINE__);                   \
        }                                                                                             \
    } while (0)

typedef struct {
    char *key[MAX_FIELDS];
    char *val[MAX_FIELDS];
    int count;
} fields_t;

static const char *field(const fields_t *f, const char *key)
{
    int i;
    for (i = 0; i < f->count; ++i) {
        if (strcmp(f->key[i], key) == 0) return f->val[i];
    }
    return NULL;
}

static long long field_int(const fields_t *f, const char *key)
{
    const char *v = field(f, key);
    if (v == NULL) {
        ++g_failures;
        fprintf(stderr, "FAIL %s: missing field %s\n", g_vector, key);
        return 0;
    }
    return strtoll(v, NULL, 0);
}

static int field_list(const fields_t *f, const char *key, long long *out, int cap)
{
    const char *v = field(f, key);
    int n = 0;
    char *end;
    if (v == NULL) return -1;
    while (*v != '\0' && n < cap) {
        out[n++] = strtoll(v, &end, 10);
        if (*end != ',') break;
        v = end + 1;
    }
    return n;
}

static int field_doubles(const fields_t *f, const char *key, double *out, int cap)
{
    const char *v = field(f, key);
    int n = 0;
    char *end;
    if (v == NULL) return -1;
    while (*v != '\0' && n < cap) {
        out[n++] = strtod(v, &end);
        if (*end != ',') break;
        v = end + 1;
    }
    return n;
}

static void parse_version(const fields_t *f, unsigned *major, unsigned *minor)
{
    const char *v = field(f, "ver");
    *major = *minor = 99u;
    if (v != NULL && sscanf(v, "%u.%u", major, minor) != 2) *major = *minor = 99u;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long parse_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (strcmp(hex, "-") == 0) return 0;
    while (hex[0] != '\0' && hex[1] != '\0') {
        int hi = hexval(hex[0]), lo = hexval(hex[1]);
        if (hi < 0 || lo < 0 || n >= cap) return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        hex += 2;
    }
    return hex[0] == '\0' ? (long)n : -1;
}

static int close_rel(double got, double want, double rel)
{
    double scale = fabs(want) > 1e-30 ? fabs(want) : 1.0;
    return fabs(got - want) <= rel * scale + 1e-30;
}

static int error_code(const char *name)
{
    static const int codes[] = {DMI_ERR_TOO_SHORT, DMI_ERR_VERSION, DMI_ERR_TYPE,  DMI_ERR_LENGTH,
                                DMI_ERR_COUNT,     DMI_ERR_CONFIG,  DMI_ERR_PARAM, DMI_ERR_OPCODE};
    size_t i;
    for (i = 0; i < sizeof codes / sizeof codes[0]; ++i) {
        if (strcmp(dmi_err_name(codes[i]), name) == 0) return codes[i];
    }
    return 1; /* never returned by the library */
}

/* ---- per-kind checks ----------------------------------------------------------------- */
static void check_data(const uint8_t *b, size_t len, int expect_ok, const fields_t *f, int encode)
{
    dmi_data_packet_t p;
    int err = dmi_decode_data(b, len, &p);
    long long acc[MAX_LIST], gyr[MAX_LIST];
    double acc0[3], gyr0[3];
    unsigned major, minor, i, j;
    uint8_t out[DMI_MAX_DATA_PACKET_SIZE + 8];
    if (!expect_ok) {
        CHECK(err == error_code(field(f, "error")));
        return;
    }
    CHECK(err == DMI_OK);
    if (err != DMI_OK) return;
    parse_version(f, &major, &minor);
    CHECK(p.version_major == major && p.version_minor == minor);
    CHECK(p.compact == field_int(f, "compact"));
    CHECK(p.flags == field_int(f, "flags"));
    CHECK(p.counter == (uint32_t)field_int(f, "counter"));
    CHECK(p.timestamp_us == (uint32_t)field_int(f, "timestamp_us"));
    CHECK(p.fs_hz == field_int(f, "fs_hz"));
    CHECK(p.acc_range_g == field_int(f, "acc_range_g"));
    CHECK(p.gyr_range_dps == field_int(f, "gyr_range_dps"));
    CHECK(p.n == field_int(f, "n"));
    CHECK(field_list(f, "acc", acc, MAX_LIST) == 3 * p.n);
    CHECK(field_list(f, "gyr", gyr, MAX_LIST) == 3 * p.n);
    for (i = 0; i < p.n; ++i) {
        for (j = 0; j < 3; ++j) {
            CHECK(p.samples[i].acc[j] == acc[3 * i + j]);
            CHECK(p.samples[i].gyr[j] == gyr[3 * i + j]);
        }
    }
    CHECK(field_doubles(f, "acc0_mps2", acc0, 3) == 3);
    CHECK(field_doubles(f, "gyr0_rps", gyr0, 3) == 3);
    for (j = 0; j < 3; ++j) { /* single precision: relative 1e-6 */
        CHECK(close_rel(dmi_acc_mps2(p.samples[0].acc[j], p.acc_range_g), acc0[j], 1e-6));
        CHECK(close_rel(dmi_gyr_rps(p.samples[0].gyr[j], p.gyr_range_dps), gyr0[j], 1e-6));
    }
    if (encode) {
        int cfg = dmi_config_byte(p.fs_hz, p.acc_range_g, p.gyr_range_dps);
        int n;
        CHECK(cfg >= 0);
        if (p.compact)
            n = dmi_encode_compact(out, sizeof out, p.counter, p.timestamp_us, (uint8_t)cfg, &p.samples[0]);
        else
            n = dmi_encode_data(out, sizeof out, p.counter, p.timestamp_us, (uint8_t)cfg, p.flags, p.samples, p.n);
        CHECK(n == (int)len && memcmp(out, b, len) == 0);
        CHECK((p.compact ? dmi_encode_compact(out, len - 1u, p.counter, p.timestamp_us, (uint8_t)cfg, &p.samples[0])
                         : dmi_encode_data(out, len - 1u, p.counter, p.timestamp_us, (uint8_t)cfg, p.flags, p.samples,
                                           p.n)) == DMI_ERR_BUFFER);
    }
}

static void check_status(const uint8_t *b, size_t len, int expect_ok, const fields_t *f, int encode)
{
    dmi_status_t s;
    int err = dmi_decode_status(b, len, &s);
    unsigned major, minor;
    uint8_t out[DMI_STATUS_SIZE];
    if (!expect_ok) {
        CHECK(err == error_code(field(f, "error")));
        return;
    }
    CHECK(err == DMI_OK);
    if (err != DMI_OK) return;
    parse_version(f, &major, &minor);
    CHECK(s.version_major == major && s.version_minor == minor);
    CHECK(s.battery_pct == field_int(f, "battery_pct"));
    CHECK(s.state == field_int(f, "state"));
    CHECK(s.temperature_cdeg == field_int(f, "temperature_cdeg"));
    CHECK(s.error_flags == field_int(f, "error_flags"));
    CHECK(s.device_time_us == (uint32_t)field_int(f, "device_time_us"));
    CHECK(s.samples_dropped == (uint32_t)field_int(f, "samples_dropped"));
    if (encode) CHECK(dmi_encode_status(out, sizeof out, &s) == (int)len && memcmp(out, b, len) == 0);
}

static void check_command(const uint8_t *b, size_t len, int expect_ok, const fields_t *f, int encode)
{
    dmi_command_t c;
    int err = dmi_decode_command(b, len, &c);
    unsigned major, minor;
    uint8_t out[DMI_MAX_COMMAND_SIZE];
    if (!expect_ok) {
        const char *name = field(f, "error");
        CHECK(err == error_code(name));
        if (field(f, "opcode") != NULL) CHECK(c.opcode == field_int(f, "opcode"));
        if (field(f, "seq") != NULL) CHECK(c.seq == field_int(f, "seq"));
        CHECK(dmi_result_for_error(err) != DMI_RESULT_OK && dmi_result_for_error(err) != DMI_RESULT_INTERNAL_ERROR);
        return;
    }
    CHECK(err == DMI_OK);
    if (err != DMI_OK) return;
    parse_version(f, &major, &minor);
    CHECK(c.version_major == major && c.version_minor == minor);
    CHECK(c.opcode == field_int(f, "opcode"));
    CHECK(c.seq == field_int(f, "seq"));
    if (field(f, "format") != NULL) CHECK(c.format == field_int(f, "format"));
    if (field(f, "samples_per_packet") != NULL) CHECK(c.samples_per_packet == field_int(f, "samples_per_packet"));
    if (field(f, "fs_hz") != NULL) CHECK(c.fs_hz == field_int(f, "fs_hz"));
    if (field(f, "acc_range_g") != NULL) CHECK(c.acc_range_g == field_int(f, "acc_range_g"));
    if (field(f, "gyr_range_dps") != NULL) CHECK(c.gyr_range_dps == field_int(f, "gyr_range_dps"));
    if (field(f, "duration_s") != NULL) CHECK(c.duration_s == field_int(f, "duration_s"));
    if (field(f, "host_time_us") != NULL) CHECK(c.host_time_us == (uint32_t)field_int(f, "host_time_us"));
    if (encode) CHECK(dmi_encode_command(out, sizeof out, &c) == (int)len && memcmp(out, b, len) == 0);
}

static void check_response(const uint8_t *b, size_t len, int expect_ok, const fields_t *f, int encode)
{
    dmi_response_t r;
    int err = dmi_decode_response(b, len, &r);
    unsigned major, minor;
    uint8_t out[DMI_MAX_RESPONSE_SIZE];
    long long fw[3];
    if (!expect_ok) {
        CHECK(err == error_code(field(f, "error")));
        return;
    }
    CHECK(err == DMI_OK);
    if (err != DMI_OK) return;
    parse_version(f, &major, &minor);
    CHECK(r.version_major == major && r.version_minor == minor);
    CHECK(r.opcode == field_int(f, "opcode"));
    CHECK(r.seq == field_int(f, "seq"));
    CHECK(r.result == field_int(f, "result"));
    if (field(f, "serial") != NULL) {
        CHECK(r.has_body);
        CHECK(r.serial == (uint32_t)field_int(f, "serial"));
        CHECK(field_list(f, "firmware", fw, 3) == 3);
        CHECK(r.firmware[0] == fw[0] && r.firmware[1] == fw[1] && r.firmware[2] == fw[2]);
        CHECK(r.hardware_revision == field_int(f, "hardware_revision"));
        CHECK(r.fs_hz == field_int(f, "fs_hz"));
        CHECK(r.acc_range_g == field_int(f, "acc_range_g"));
        CHECK(r.gyr_range_dps == field_int(f, "gyr_range_dps"));
        CHECK(r.state == field_int(f, "state"));
    } else if (field(f, "device_rx_us") != NULL) {
        CHECK(r.has_body);
        CHECK(r.host_time_us == (uint32_t)field_int(f, "host_time_us"));
        CHECK(r.device_rx_us == (uint32_t)field_int(f, "device_rx_us"));
        CHECK(r.device_tx_us == (uint32_t)field_int(f, "device_tx_us"));
    } else if (field(f, "samples_per_packet") != NULL) {
        CHECK(r.has_body);
        CHECK(r.format == field_int(f, "format"));
        CHECK(r.samples_per_packet == field_int(f, "samples_per_packet"));
        CHECK(r.fs_hz == field_int(f, "fs_hz"));
    } else {
        CHECK(!r.has_body);
    }
    if (encode) CHECK(dmi_encode_response(out, sizeof out, &r) == (int)len && memcmp(out, b, len) == 0);
}

static void check_mfg(const uint8_t *b, size_t len, int expect_ok, const fields_t *f, int encode)
{
    uint32_t serial = 0;
    uint8_t major = 0, minor = 0, out[DMI_MFG_SIZE];
    unsigned want_major, want_minor;
    int err = dmi_decode_mfg(b, len, &serial, &major, &minor);
    if (!expect_ok) {
        CHECK(err == error_code(field(f, "error")));
        return;
    }
    CHECK(err == DMI_OK);
    parse_version(f, &want_major, &want_minor);
    CHECK(major == want_major && minor == want_minor);
    CHECK(field(f, "serial") != NULL && serial == (uint32_t)strtoul(field(f, "serial"), NULL, 16));
    if (encode) CHECK(dmi_encode_mfg(out, sizeof out, serial) == (int)len && memcmp(out, b, len) == 0);
}

static int run_vectors(const char *path)
{
    static char line[MAX_LINE];
    static uint8_t bytes[MAX_BYTES];
    FILE *fp = fopen(path, "r");
    int vectors = 0, per_kind[5] = {0, 0, 0, 0, 0};
    if (fp == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, fp) != NULL) {
        char *col[5], *p, *tok;
        fields_t f;
        long len;
        int c, ok, encode;
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\n') line[--l] = '\0';
        if (l == 0 || line[0] == '#') continue;
        col[0] = line;
        for (c = 1; c < 5; ++c) {
            p = strchr(col[c - 1], '\t');
            if (p == NULL) break;
            *p = '\0';
            col[c] = p + 1;
        }
        g_vector = col[0];
        if (c < 5) {
            ++g_failures;
            fprintf(stderr, "FAIL %s: malformed vector line\n", col[0]);
            continue;
        }
        f.count = 0;
        for (tok = strtok(col[4], " "); tok != NULL && f.count < MAX_FIELDS; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            if (eq == NULL) continue;
            *eq = '\0';
            f.key[f.count] = tok;
            f.val[f.count] = eq + 1;
            f.count++;
        }
        len = parse_hex(col[2], bytes, sizeof bytes);
        CHECK(len >= 0);
        if (len < 0) continue;
        ok = strcmp(col[3], "ok") == 0;
        encode = field(&f, "encode") != NULL;
        if (strcmp(col[1], "data") == 0) {
            check_data(bytes, (size_t)len, ok, &f, encode);
            per_kind[0]++;
        } else if (strcmp(col[1], "status") == 0) {
            check_status(bytes, (size_t)len, ok, &f, encode);
            per_kind[1]++;
        } else if (strcmp(col[1], "command") == 0) {
            check_command(bytes, (size_t)len, ok, &f, encode);
            per_kind[2]++;
        } else if (strcmp(col[1], "response") == 0) {
            check_response(bytes, (size_t)len, ok, &f, encode);
            per_kind[3]++;
        } else if (strcmp(col[1], "mfg") == 0) {
            check_mfg(bytes, (size_t)len, ok, &f, encode);
            per_kind[4]++;
        } else {
            ++g_failures;
            fprintf(stderr, "FAIL %s: unknown kind %s\n", col[0], col[1]);
        }
        ++vectors;
    }
    fclose(fp);
    printf("vectors: %d (data %d, status %d, command %d, response %d, mfg %d)\n", vectors, per_kind[0],
           per_kind[1], per_kind[2], per_kind[3], per_kind[4]);
    return vectors;
}

/* ---- packetizer and conversions --------------------------------------------------------- */
static void synth_sample(uint32_t i, dmi_sample_t *s)
{
    int j;
    for (j = 0; j < 3; ++j) {
        s->acc[j] = (int16_t)((long)((i * 7919u + (uint32_t)j * 104729u) % 65536u) - 32768L);
        s->gyr[j] = (int16_t)((long)((i * 3571u + (uint32_t)j * 15485863u) % 65536u) - 32768L);
    }
}

static void test_packetizer(void)
{
    dmi_packetizer_t pz;
    dmi_data_packet_t p;
    dmi_sample_t s;
    uint8_t out[DMI_MAX_DATA_PACKET_SIZE];
    uint32_t i, packets = 0, samples = 0, expect_counter = 0xFFFFFFF0u;
    int len;
    g_vector = "packetizer";
    CHECK(dmi_packetizer_init(&pz, 1000, 8, 1000, 0, 19, 0xFFFFFFF0u) == DMI_OK);
    CHECK(dmi_packetizer_init(&pz, 999, 8, 1000, 0, 19, 0) == DMI_ERR_PARAM);
    CHECK(dmi_packetizer_init(&pz, 1000, 8, 1000, 0, 20, 0) == DMI_ERR_COUNT);
    CHECK(dmi_packetizer_init(&pz, 1000, 8, 1000, 0, 19, 0xFFFFFFF0u) == DMI_OK);
    dmi_packetizer_set_flags(&pz, DMI_FLAG_TIME_SYNCED);
    for (i = 0; i < 100u; ++i) {
        synth_sample(i, &s);
        len = dmi_packetizer_push(&pz, &s, 0xFFFF0000u + i * 1000u, out, sizeof out);
        CHECK(len == 0 || len == (int)DMI_MAX_DATA_PACKET_SIZE);
        if (len > 0) {
            CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK);
            CHECK(p.counter == expect_counter); /* wraps through 0xFFFFFFFF -> 0 */
            CHECK(p.timestamp_us == 0xFFFF0000u + (i - 18u) * 1000u);
            CHECK(p.flags == DMI_FLAG_TIME_SYNCED);
            expect_counter += 19u;
            packets++;
            samples += p.n;
        }
    }
    CHECK(packets == 5u && samples == 95u);
    CHECK(dmi_packetizer_skip(&pz, 7u) == DMI_ERR_COUNT); /* 5 samples pending */
    len = dmi_packetizer_flush(&pz, out, sizeof out);
    CHECK(len == (int)(DMI_DATA_HEADER_SIZE + 5u * DMI_BYTES_PER_SAMPLE));
    CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK && p.n == 5u && p.counter == expect_counter);
    CHECK(dmi_packetizer_flush(&pz, out, sizeof out) == 0);
    CHECK(dmi_packetizer_skip(&pz, 7u) == DMI_OK);
    for (i = 0; i < 19u; ++i) {
        synth_sample(i, &s);
        len = dmi_packetizer_push(&pz, &s, i, out, sizeof out);
    }
    CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK);
    CHECK(p.counter == expect_counter + 5u + 7u);
    CHECK(p.flags == (DMI_FLAG_TIME_SYNCED | DMI_FLAG_FIFO_OVERRUN));
    for (i = 0; i < 19u; ++i) {
        synth_sample(i, &s);
        len = dmi_packetizer_push(&pz, &s, i, out, sizeof out);
    }
    CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK && p.flags == DMI_FLAG_TIME_SYNCED); /* one-shot */
    /* compact: counter sends the low 16 bits, timestamp the low 24 bits */
    CHECK(dmi_packetizer_init(&pz, 100, 2, 125, 1, 19, 0x0001FFFFu) == DMI_OK && pz.samples_per_packet == 1u);
    synth_sample(3, &s);
    len = dmi_packetizer_push(&pz, &s, 0x12FFFFFFu, out, sizeof out);
    CHECK(len == (int)DMI_COMPACT_PACKET_SIZE);
    CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK && p.counter == 0xFFFFu && p.timestamp_us == 0xFFFFFFu);
    len = dmi_packetizer_push(&pz, &s, 0x13000000u, out, sizeof out);
    CHECK(dmi_decode_data(out, (size_t)len, &p) == DMI_OK && p.counter == 0u && p.timestamp_us == 0u);
}

static void test_conversions_and_codes(void)
{
    uint16_t fs, dps;
    uint8_t g;
    g_vector = "conversions";
    CHECK(close_rel(dmi_acc_mps2(-32768, 16), -16.0 * 9.80665, 1e-7));
    CHECK(close_rel(dmi_acc_mps2(16384, 2), 9.80665, 1e-7));
    CHECK(close_rel(dmi_gyr_rps(-32768, 2000), -2000.0 * 3.14159265358979 / 180.0, 1e-6));
    CHECK(dmi_acc_mps2(0, 8) == 0.0f);
    CHECK(dmi_config_byte(200, 4, 500) == 0x4A);
    CHECK(dmi_config_byte(150, 4, 500) == DMI_ERR_PARAM);
    CHECK(dmi_parse_config(0x4A, &fs, &g, &dps) == DMI_OK && fs == 200u && g == 4u && dps == 500u);
    CHECK(dmi_parse_config(0xA0, &fs, &g, &dps) == DMI_ERR_CONFIG);
    CHECK(dmi_result_for_error(DMI_ERR_OPCODE) == DMI_RESULT_UNKNOWN_OPCODE);
    CHECK(dmi_decode_data(NULL, 0, NULL) == DMI_ERR_BUFFER);
    CHECK(strcmp(dmi_err_name(DMI_ERR_CONFIG), "CONFIG") == 0);
}

static int print_packets(int argc, char **argv)
{
    dmi_packetizer_t pz;
    dmi_sample_t s;
    uint8_t out[DMI_MAX_DATA_PACKET_SIZE];
    unsigned long n, i;
    int len, k;
    uint32_t ts;
    if (argc != 7) {
        fprintf(stderr, "usage: %s --packetize N SPP COMPACT FIRST_COUNTER FIRST_TS_US\n", argv[0]);
        return 2;
    }
    n = strtoul(argv[2], NULL, 0);
    if (dmi_packetizer_init(&pz, 1000, 16, 2000, (uint8_t)strtoul(argv[4], NULL, 0), (uint8_t)strtoul(argv[3], NULL, 0),
                            (uint32_t)strtoul(argv[5], NULL, 0)) != DMI_OK)
        return 2;
    ts = (uint32_t)strtoul(argv[6], NULL, 0);
    for (i = 0; i <= n; ++i) {
        len = i < n ? (synth_sample((uint32_t)i, &s), dmi_packetizer_push(&pz, &s, ts + (uint32_t)i * 1000u, out, sizeof out))
                    : dmi_packetizer_flush(&pz, out, sizeof out);
        if (len < 0) return 1;
        for (k = 0; k < len; ++k) printf("%02x", out[k]);
        if (len > 0) printf("\n");
    }
    return 0;
}

int main(int argc, char **argv)
{
    int vectors;
    if (argc >= 2 && strcmp(argv[1], "--packetize") == 0) return print_packets(argc, argv);
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS.tsv\n", argv[0]);
        return 2;
    }
    vectors = run_vectors(argv[1]);
    test_packetizer();
    test_conversions_and_codes();
    printf("checks: %d, failures: %d\n", g_checks, g_failures);
    if (vectors <= 0) return 1;
    return g_failures == 0 ? 0 : 1;
}
