/*
 * dmi_protocol.c - dmi-sensors firmware protocol v1 (see dmi_protocol.h and SPEC.md).
 * C99, no dynamic allocation, no libc calls.
 */
#include "dmi_protocol.h"

static const uint16_t RATES_HZ[8] = {50u, 100u, 200u, 250u, 400u, 500u, 800u, 1000u};
static const uint8_t ACC_RANGES_G[4] = {2u, 4u, 8u, 16u};
static const uint16_t GYR_RANGES_DPS[5] = {125u, 250u, 500u, 1000u, 2000u};

/* ---- little-endian helpers ---------------------------------------------------------- */
static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)(p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int16_t get_i16(const uint8_t *p)
{
    uint16_t u = get_u16(p);
    /* two's complement without implementation-defined conversion */
    return (u & 0x8000u) ? (int16_t)(-(int32_t)(0x10000uL - u)) : (int16_t)u;
}

static void put_i16(uint8_t *p, int16_t v) { put_u16(p, (uint16_t)v); }

/* Split and check the version byte. */
static int check_version(uint8_t byte, uint8_t *major, uint8_t *minor)
{
    *major = (uint8_t)(byte >> 4);
    *minor = (uint8_t)(byte & 0x0Fu);
    return (*major == DMI_PROTOCOL_MAJOR) ? DMI_OK : DMI_ERR_VERSION;
}

/* Length rule: exact for this minor version, at least `need` for a newer minor version. */
static int length_ok(size_t len, size_t need, uint8_t minor)
{
    return len == need || (minor > DMI_PROTOCOL_MINOR && len > need);
}

/* ---- errors -------------------------------------------------------------------------- */
const char *dmi_err_name(int err)
{
    switch (err) {
    case DMI_OK: return "OK";
    case DMI_ERR_TOO_SHORT: return "TOO_SHORT";
    case DMI_ERR_VERSION: return "VERSION";
    case DMI_ERR_TYPE: return "TYPE";
    case DMI_ERR_LENGTH: return "LENGTH";
    case DMI_ERR_COUNT: return "COUNT";
    case DMI_ERR_CONFIG: return "CONFIG";
    case DMI_ERR_PARAM: return "PARAM";
    case DMI_ERR_OPCODE: return "OPCODE";
    case DMI_ERR_BUFFER: return "BUFFER";
    default: return "UNKNOWN";
    }
}

uint8_t dmi_result_for_error(int err)
{
    switch (err) {
    case DMI_OK: return DMI_RESULT_OK;
    case DMI_ERR_VERSION: return DMI_RESULT_UNSUPPORTED_VERSION;
    case DMI_ERR_OPCODE: return DMI_RESULT_UNKNOWN_OPCODE;
    case DMI_ERR_TOO_SHORT: /* fall through */
    case DMI_ERR_LENGTH: return DMI_RESULT_INVALID_LENGTH;
    case DMI_ERR_PARAM: return DMI_RESULT_INVALID_PARAMETER;
    default: return DMI_RESULT_INTERNAL_ERROR;
    }
}

/* ---- rates and ranges ------------------------------------------------------------------ */
int dmi_rate_code(uint16_t fs_hz)
{
    int i;
    for (i = 0; i < 8; ++i) {
        if (RATES_HZ[i] == fs_hz) return i;
    }
    return DMI_ERR_PARAM;
}

int dmi_acc_range_code(uint8_t acc_range_g)
{
    int i;
    for (i = 0; i < 4; ++i) {
        if (ACC_RANGES_G[i] == acc_range_g) return i;
    }
    return DMI_ERR_PARAM;
}

int dmi_gyr_range_code(uint16_t gyr_range_dps)
{
    int i;
    for (i = 0; i < 5; ++i) {
        if (GYR_RANGES_DPS[i] == gyr_range_dps) return i;
    }
    return DMI_ERR_PARAM;
}

int dmi_config_byte(uint16_t fs_hz, uint8_t acc_range_g, uint16_t gyr_range_dps)
{
    int r = dmi_rate_code(fs_hz);
    int a = dmi_acc_range_code(acc_range_g);
    int g = dmi_gyr_range_code(gyr_range_dps);
    if (r < 0 || a < 0 || g < 0) return DMI_ERR_PARAM;
    return r | (a << 3) | (g << 5);
}

int dmi_parse_config(uint8_t config, uint16_t *fs_hz, uint8_t *acc_range_g, uint16_t *gyr_range_dps)
{
    unsigned g = (unsigned)(config >> 5);
    if (g >= 5u) return DMI_ERR_CONFIG;
    *fs_hz = RATES_HZ[config & 0x07u];
    *acc_range_g = ACC_RANGES_G[(config >> 3) & 0x03u];
    *gyr_range_dps = GYR_RANGES_DPS[g];
    return DMI_OK;
}

float dmi_acc_mps2(int16_t counts, uint8_t acc_range_g)
{
    return (float)counts * ((float)acc_range_g * 9.80665f / 32768.0f);
}

float dmi_gyr_rps(int16_t counts, uint16_t gyr_range_dps)
{
    return (float)counts * ((float)gyr_range_dps / 32768.0f * 0.017453292519943295f);
}

/* ---- data packets ---------------------------------------------------------------------- */
static void put_samples(uint8_t *p, const dmi_sample_t *s, unsigned n)
{
    unsigned i, j;
    for (i = 0; i < n; ++i) {
        for (j = 0; j < 3; ++j) {
            put_i16(p + 2u * j, s[i].acc[j]);
            put_i16(p + 6u + 2u * j, s[i].gyr[j]);
        }
        p += DMI_BYTES_PER_SAMPLE;
    }
}

static void get_samples(const uint8_t *p, dmi_sample_t *s, unsigned n)
{
    unsigned i, j;
    for (i = 0; i < n; ++i) {
        for (j = 0; j < 3; ++j) {
            s[i].acc[j] = get_i16(p + 2u * j);
            s[i].gyr[j] = get_i16(p + 6u + 2u * j);
        }
        p += DMI_BYTES_PER_SAMPLE;
    }
}

int dmi_encode_data(uint8_t *out, size_t cap, uint32_t counter, uint32_t timestamp_us, uint8_t config,
                    uint8_t flags, const dmi_sample_t *samples, uint8_t n)
{
    size_t len;
    if (out == NULL || samples == NULL) return DMI_ERR_BUFFER;
    if (n < 1u || n > DMI_MAX_SAMPLES) return DMI_ERR_COUNT;
    if ((config >> 5) >= 5u) return DMI_ERR_CONFIG;
    len = DMI_DATA_HEADER_SIZE + (size_t)DMI_BYTES_PER_SAMPLE * n;
    if (cap < len) return DMI_ERR_BUFFER;
    out[0] = DMI_VERSION_BYTE;
    out[1] = DMI_TYPE_DATA;
    out[2] = flags;
    out[3] = config;
    out[4] = n;
    out[5] = 0u; /* reserved */
    put_u32(out + 6, counter);
    put_u32(out + 10, timestamp_us);
    put_samples(out + DMI_DATA_HEADER_SIZE, samples, n);
    return (int)len;
}

int dmi_encode_compact(uint8_t *out, size_t cap, uint32_t counter, uint32_t timestamp_us, uint8_t config,
                       const dmi_sample_t *sample)
{
    if (out == NULL || sample == NULL) return DMI_ERR_BUFFER;
    if ((config >> 5) >= 5u) return DMI_ERR_CONFIG;
    if (cap < DMI_COMPACT_PACKET_SIZE) return DMI_ERR_BUFFER;
    out[0] = DMI_VERSION_BYTE;
    out[1] = DMI_TYPE_DATA_COMPACT;
    out[2] = config;
    put_u16(out + 3, (uint16_t)(counter & 0xFFFFu));
    out[5] = (uint8_t)(timestamp_us & 0xFFu);
    out[6] = (uint8_t)((timestamp_us >> 8) & 0xFFu);
    out[7] = (uint8_t)((timestamp_us >> 16) & 0xFFu);
    put_samples(out + DMI_COMPACT_HEADER_SIZE, sample, 1u);
    return (int)DMI_COMPACT_PACKET_SIZE;
}

int dmi_decode_data(const uint8_t *buf, size_t len, dmi_data_packet_t *out)
{
    int err;
    if (out == NULL || (buf == NULL && len > 0u)) return DMI_ERR_BUFFER;
    if (len < 2u) return DMI_ERR_TOO_SHORT;
    err = check_version(buf[0], &out->version_major, &out->version_minor);
    if (err != DMI_OK) return err;
    if (buf[1] == DMI_TYPE_DATA) {
        uint8_t n;
        if (len < DMI_DATA_HEADER_SIZE) return DMI_ERR_TOO_SHORT;
        n = buf[4];
        if (n < 1u || n > DMI_MAX_SAMPLES) return DMI_ERR_COUNT;
        if (!length_ok(len, DMI_DATA_HEADER_SIZE + (size_t)DMI_BYTES_PER_SAMPLE * n, out->version_minor))
            return DMI_ERR_LENGTH;
        err = dmi_parse_config(buf[3], &out->fs_hz, &out->acc_range_g, &out->gyr_range_dps);
        if (err != DMI_OK) return err;
        out->compact = 0u;
        out->flags = buf[2];
        out->n = n;
        out->counter = get_u32(buf + 6);
        out->timestamp_us = get_u32(buf + 10);
        get_samples(buf + DMI_DATA_HEADER_SIZE, out->samples, n);
        return DMI_OK;
    }
    if (buf[1] == DMI_TYPE_DATA_COMPACT) {
        if (!length_ok(len, DMI_COMPACT_PACKET_SIZE, out->version_minor)) return DMI_ERR_LENGTH;
        err = dmi_parse_config(buf[2], &out->fs_hz, &out->acc_range_g, &out->gyr_range_dps);
        if (err != DMI_OK) return err;
        out->compact = 1u;
        out->flags = 0u;
        out->n = 1u;
        out->counter = get_u16(buf + 3);
        out->timestamp_us = (uint32_t)buf[5] | ((uint32_t)buf[6] << 8) | ((uint32_t)buf[7] << 16);
        get_samples(buf + DMI_COMPACT_HEADER_SIZE, out->samples, 1u);
        return DMI_OK;
    }
    return DMI_ERR_TYPE;
}

/* ---- status ------------------------------------------------------------------------ */
int dmi_encode_status(uint8_t *out, size_t cap, const dmi_status_t *st)
{
    if (out == NULL || st == NULL || cap < DMI_STATUS_SIZE) return DMI_ERR_BUFFER;
    if (st->battery_pct > 100u && st->battery_pct != DMI_BATTERY_UNKNOWN) return DMI_ERR_PARAM;
    out[0] = DMI_VERSION_BYTE;
    out[1] = DMI_TYPE_STATUS;
    out[2] = st->battery_pct;
    out[3] = st->state;
    put_i16(out + 4, st->temperature_cdeg);
    put_u16(out + 6, st->error_flags);
    put_u32(out + 8, st->device_time_us);
    put_u32(out + 12, st->samples_dropped);
    return (int)DMI_STATUS_SIZE;
}

int dmi_decode_status(const uint8_t *buf, size_t len, dmi_status_t *st)
{
    int err;
    if (st == NULL || (buf == NULL && len > 0u)) return DMI_ERR_BUFFER;
    if (len < 1u) return DMI_ERR_TOO_SHORT;
    err = check_version(buf[0], &st->version_major, &st->version_minor);
    if (err != DMI_OK) return err;
    if (len < 2u) return DMI_ERR_TOO_SHORT;
    if (buf[1] != DMI_TYPE_STATUS) return DMI_ERR_TYPE;
    if (!length_ok(len, DMI_STATUS_SIZE, st->version_minor)) return DMI_ERR_LENGTH;
    if (buf[2] > 100u && buf[2] != DMI_BATTERY_UNKNOWN) return DMI_ERR_PARAM;
    st->battery_pct = buf[2];
    st->state = buf[3];
    st->temperature_cdeg = get_i16(buf + 4);
    st->error_flags = get_u16(buf + 6);
    st->device_time_us = get_u32(buf + 8);
    st->samples_dropped = get_u32(buf + 12);
    return DMI_OK;
}

/* ---- commands -------------------------------------------------------------------------- */
/* Total command length for a known opcode, 0 for an unknown one. */
static size_t command_size(uint8_t opcode)
{
    switch (opcode) {
    case DMI_OP_START_STREAMING: return 5u;
    case DMI_OP_STOP_STREAMING: return 3u;
    case DMI_OP_SET_RATE: return 5u;
    case DMI_OP_SET_RANGES: return 6u;
    case DMI_OP_IDENTIFY: return 4u;
    case DMI_OP_GET_INFO: return 3u;
    case DMI_OP_TIME_SYNC: return 7u;
    default: return 0u;
    }
}

static int check_command_params(const dmi_command_t *c)
{
    switch (c->opcode) {
    case DMI_OP_START_STREAMING:
        if (c->format == DMI_FORMAT_FULL) return c->samples_per_packet <= DMI_MAX_SAMPLES ? DMI_OK : DMI_ERR_PARAM;
        if (c->format == DMI_FORMAT_COMPACT) return c->samples_per_packet <= 1u ? DMI_OK : DMI_ERR_PARAM;
        return DMI_ERR_PARAM;
    case DMI_OP_SET_RATE: return dmi_rate_code(c->fs_hz) >= 0 ? DMI_OK : DMI_ERR_PARAM;
    case DMI_OP_SET_RANGES:
        if (dmi_acc_range_code(c->acc_range_g) < 0 || dmi_gyr_range_code(c->gyr_range_dps) < 0) return DMI_ERR_PARAM;
        return DMI_OK;
    default: return DMI_OK;
    }
}

int dmi_encode_command(uint8_t *out, size_t cap, const dmi_command_t *c)
{
    size_t len;
    int err;
    if (out == NULL || c == NULL) return DMI_ERR_BUFFER;
    len = command_size(c->opcode);
    if (len == 0u) return DMI_ERR_OPCODE;
    err = check_command_params(c);
    if (err != DMI_OK) return err;
    if (cap < len) return DMI_ERR_BUFFER;
    out[0] = DMI_VERSION_BYTE;
    out[1] = c->opcode;
    out[2] = c->seq;
    switch (c->opcode) {
    case DMI_OP_START_STREAMING:
        out[3] = c->format;
        out[4] = c->samples_per_packet;
        break;
    case DMI_OP_SET_RATE: put_u16(out + 3, c->fs_hz); break;
    case DMI_OP_SET_RANGES:
        out[3] = c->acc_range_g;
        put_u16(out + 4, c->gyr_range_dps);
        break;
    case DMI_OP_IDENTIFY: out[3] = c->duration_s; break;
    case DMI_OP_TIME_SYNC: put_u32(out + 3, c->host_time_us); break;
    default: break;
    }
    return (int)len;
}

int dmi_decode_command(const uint8_t *buf, size_t len, dmi_command_t *c)
{
    size_t need;
    int err;
    if (c == NULL || (buf == NULL && len > 0u)) return DMI_ERR_BUFFER;
    c->opcode = len > 1u ? buf[1] : 0u;
    c->seq = len > 2u ? buf[2] : 0u;
    c->format = c->samples_per_packet = c->acc_range_g = c->duration_s = 0u;
    c->fs_hz = c->gyr_range_dps = 0u;
    c->host_time_us = 0u;
    if (len < 1u) return DMI_ERR_LENGTH;
    err = check_version(buf[0], &c->version_major, &c->version_minor);
    if (err != DMI_OK) return err;
    if (len < 3u) return DMI_ERR_LENGTH;
    need = command_size(c->opcode);
    if (need == 0u) return DMI_ERR_OPCODE;
    if (!length_ok(len, need, c->version_minor)) return DMI_ERR_LENGTH;
    switch (c->opcode) {
    case DMI_OP_START_STREAMING:
        c->format = buf[3];
        c->samples_per_packet = buf[4];
        break;
    case DMI_OP_SET_RATE: c->fs_hz = get_u16(buf + 3); break;
    case DMI_OP_SET_RANGES:
        c->acc_range_g = buf[3];
        c->gyr_range_dps = get_u16(buf + 4);
        break;
    case DMI_OP_IDENTIFY: c->duration_s = buf[3]; break;
    case DMI_OP_TIME_SYNC: c->host_time_us = get_u32(buf + 3); break;
    default: break;
    }
    return check_command_params(c);
}

/* ---- responses ------------------------------------------------------------------------- */
static size_t response_body_size(uint8_t opcode)
{
    switch (opcode) {
    case DMI_OP_START_STREAMING: return 4u;
    case DMI_OP_GET_INFO: return 14u;
    case DMI_OP_TIME_SYNC: return 12u;
    default: return 0u;
    }
}

int dmi_encode_response(uint8_t *out, size_t cap, const dmi_response_t *r)
{
    size_t body, len;
    if (out == NULL || r == NULL) return DMI_ERR_BUFFER;
    body = r->result == DMI_RESULT_OK ? response_body_size(r->opcode) : 0u;
    len = DMI_RESPONSE_HEADER_SIZE + body;
    if (cap < len) return DMI_ERR_BUFFER;
    out[0] = DMI_VERSION_BYTE;
    out[1] = DMI_TYPE_RESPONSE;
    out[2] = r->opcode;
    out[3] = r->seq;
    out[4] = r->result;
    if (body == 0u) return (int)len;
    switch (r->opcode) {
    case DMI_OP_START_STREAMING:
        out[5] = r->format;
        out[6] = r->samples_per_packet;
        put_u16(out + 7, r->fs_hz);
        break;
    case DMI_OP_GET_INFO:
        put_u32(out + 5, r->serial);
        out[9] = r->firmware[0];
        out[10] = r->firmware[1];
        out[11] = r->firmware[2];
        out[12] = r->hardware_revision;
        put_u16(out + 13, r->fs_hz);
        out[15] = r->acc_range_g;
        put_u16(out + 16, r->gyr_range_dps);
        out[18] = r->state;
        break;
    default: /* TIME_SYNC */
        put_u32(out + 5, r->host_time_us);
        put_u32(out + 9, r->device_rx_us);
        put_u32(out + 13, r->device_tx_us);
        break;
    }
    return (int)len;
}

int dmi_decode_response(const uint8_t *buf, size_t len, dmi_response_t *r)
{
    size_t body;
    int err;
    uint8_t newer;
    if (r == NULL || (buf == NULL && len > 0u)) return DMI_ERR_BUFFER;
    r->has_body = 0u;
    if (len < 1u) return DMI_ERR_TOO_SHORT;
    err = check_version(buf[0], &r->version_major, &r->version_minor);
    if (err != DMI_OK) return err;
    newer = (uint8_t)(r->version_minor > DMI_PROTOCOL_MINOR);
    if (len < DMI_RESPONSE_HEADER_SIZE) return DMI_ERR_TOO_SHORT;
    if (buf[1] != DMI_TYPE_RESPONSE) return DMI_ERR_TYPE;
    r->opcode = buf[2];
    r->seq = buf[3];
    r->result = buf[4];
    if (r->result > DMI_RESULT_INTERNAL_ERROR && !newer) return DMI_ERR_PARAM;
    if (r->result == DMI_RESULT_OK && command_size(r->opcode) == 0u && !newer) return DMI_ERR_OPCODE;
    body = r->result == DMI_RESULT_OK ? response_body_size(r->opcode) : 0u;
    if (!length_ok(len, DMI_RESPONSE_HEADER_SIZE + body, r->version_minor)) return DMI_ERR_LENGTH;
    if (body == 0u) return DMI_OK;
    switch (r->opcode) {
    case DMI_OP_START_STREAMING:
        r->format = buf[5];
        r->samples_per_packet = buf[6];
        r->fs_hz = get_u16(buf + 7);
        if (r->format > DMI_FORMAT_COMPACT || dmi_rate_code(r->fs_hz) < 0) return DMI_ERR_PARAM;
        break;
    case DMI_OP_GET_INFO:
        r->serial = get_u32(buf + 5);
        r->firmware[0] = buf[9];
        r->firmware[1] = buf[10];
        r->firmware[2] = buf[11];
        r->hardware_revision = buf[12];
        r->fs_hz = get_u16(buf + 13);
        r->acc_range_g = buf[15];
        r->gyr_range_dps = get_u16(buf + 16);
        r->state = buf[18];
        if (dmi_rate_code(r->fs_hz) < 0 || dmi_acc_range_code(r->acc_range_g) < 0 ||
            dmi_gyr_range_code(r->gyr_range_dps) < 0)
            return DMI_ERR_PARAM;
        break;
    default: /* TIME_SYNC */
        r->host_time_us = get_u32(buf + 5);
        r->device_rx_us = get_u32(buf + 9);
        r->device_tx_us = get_u32(buf + 13);
        break;
    }
    r->has_body = 1u;
    return DMI_OK;
}

/* ---- advertising ---------------------------------------------------------------------- */
int dmi_encode_mfg(uint8_t *out, size_t cap, uint32_t serial)
{
    if (out == NULL || cap < DMI_MFG_SIZE) return DMI_ERR_BUFFER;
    put_u32(out, serial);
    out[4] = DMI_VERSION_BYTE;
    return (int)DMI_MFG_SIZE;
}

int dmi_decode_mfg(const uint8_t *buf, size_t len, uint32_t *serial, uint8_t *major, uint8_t *minor)
{
    int err;
    if (serial == NULL || major == NULL || minor == NULL || (buf == NULL && len > 0u)) return DMI_ERR_BUFFER;
    if (len < DMI_MFG_SIZE) return DMI_ERR_LENGTH;
    err = check_version(buf[4], major, minor);
    if (err != DMI_OK) return err;
    if (!length_ok(len, DMI_MFG_SIZE, *minor)) return DMI_ERR_LENGTH;
    *serial = get_u32(buf);
    return DMI_OK;
}

/* ---- packetizer ---------------------------------------------------------------------- */
int dmi_packetizer_init(dmi_packetizer_t *p, uint16_t fs_hz, uint8_t acc_range_g, uint16_t gyr_range_dps,
                        uint8_t compact, uint8_t samples_per_packet, uint32_t first_counter)
{
    int config;
    if (p == NULL) return DMI_ERR_BUFFER;
    config = dmi_config_byte(fs_hz, acc_range_g, gyr_range_dps);
    if (config < 0) return config;
    if (compact) samples_per_packet = 1u;
    if (samples_per_packet < 1u || samples_per_packet > DMI_MAX_SAMPLES) return DMI_ERR_COUNT;
    p->config = (uint8_t)config;
    p->compact = (uint8_t)(compact ? 1u : 0u);
    p->samples_per_packet = samples_per_packet;
    p->flags = 0u;
    p->pending_flags = 0u;
    p->n = 0u;
    p->counter = first_counter;
    p->first_timestamp_us = 0u;
    return DMI_OK;
}

int dmi_packetizer_flush(dmi_packetizer_t *p, uint8_t *out, size_t cap)
{
    int len;
    uint32_t first;
    if (p == NULL || out == NULL) return DMI_ERR_BUFFER;
    if (p->n == 0u) return 0;
    first = p->counter - p->n; /* unsigned arithmetic wraps exactly like the wire counter */
    if (p->compact)
        len = dmi_encode_compact(out, cap, first, p->first_timestamp_us, p->config, &p->buf[0]);
    else
        len = dmi_encode_data(out, cap, first, p->first_timestamp_us, p->config,
                              (uint8_t)(p->flags | p->pending_flags), p->buf, p->n);
    if (len > 0) {
        p->n = 0u;
        p->pending_flags = 0u;
    }
    return len;
}

int dmi_packetizer_push(dmi_packetizer_t *p, const dmi_sample_t *sample, uint32_t timestamp_us, uint8_t *out,
                        size_t cap)
{
    if (p == NULL || sample == NULL || out == NULL) return DMI_ERR_BUFFER;
    if (p->n >= p->samples_per_packet) return DMI_ERR_COUNT; /* a previous flush failed */
    if (p->n == 0u) p->first_timestamp_us = timestamp_us;
    p->buf[p->n] = *sample;
    p->n++;
    p->counter++;
    if (p->n < p->samples_per_packet) return 0;
    return dmi_packetizer_flush(p, out, cap);
}

int dmi_packetizer_skip(dmi_packetizer_t *p, uint32_t lost)
{
    if (p == NULL) return DMI_ERR_BUFFER;
    if (p->n != 0u) return DMI_ERR_COUNT;
    if (lost == 0u) return DMI_OK;
    p->counter += lost;
    p->pending_flags |= DMI_FLAG_FIFO_OVERRUN;
    return DMI_OK;
}

void dmi_packetizer_set_flags(dmi_packetizer_t *p, uint8_t flags)
{
    if (p != NULL) p->flags = flags;
}
