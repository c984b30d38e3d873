/*
 * dmi_protocol.h - dmi-sensors firmware protocol v1: portable C99 encoder/decoder.
 *
 * The wire format is specified in firmware_protocol/SPEC.md (the reference); this library
 * and the Python package dmi_sensors.protocol are both checked against the byte-exact
 * vectors in firmware_protocol/vectors/vectors.tsv.
 *
 * - C99, no dynamic allocation, no global mutable state, no libc beyond <stddef.h>/<stdint.h>
 *   (memcpy is not used either), endianness-independent (bytes are assembled explicitly).
 * - Encoders write into a caller buffer of capacity `cap` and return the number of bytes
 *   written (> 0) or a negative dmi_err_t. Decoders return DMI_OK (0) or a negative dmi_err_t.
 * - All multi-byte fields are little-endian. Every message starts with a version byte
 *   (major << 4 | minor); a newer minor version decodes (trailing bytes ignored), an unknown
 *   major version is rejected with DMI_ERR_VERSION.
 */
#ifndef DMI_PROTOCOL_H
#define DMI_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---------------------------------------------------------------------- */
#define DMI_PROTOCOL_MAJOR 1u
#define DMI_PROTOCOL_MINOR 0u
#define DMI_VERSION_BYTE ((uint8_t)((DMI_PROTOCOL_MAJOR << 4) | DMI_PROTOCOL_MINOR))

/* ---- GATT / advertising (strings for documentation and host tools) ------------------- */
#define DMI_SERVICE_UUID "6d5f0001-2b8a-4c1e-9d3f-0a7b5c9e1d42"
#define DMI_DATA_CHAR_UUID "6d5f0002-2b8a-4c1e-9d3f-0a7b5c9e1d42"    /* notify */
#define DMI_CONTROL_CHAR_UUID "6d5f0003-2b8a-4c1e-9d3f-0a7b5c9e1d42" /* write with response */
#define DMI_STATUS_CHAR_UUID "6d5f0004-2b8a-4c1e-9d3f-0a7b5c9e1d42"  /* read + notify */
/* The same 128-bit base as bytes, little-endian (as a SoftDevice/Zephyr wants it), with
 * bytes 12-13 = 0x0000; put the 16-bit short id 0x0001..0x0004 there. */
#define DMI_UUID_BASE_LE {0x42, 0x1d, 0x9e, 0x5c, 0x7b, 0x0a, 0x3f, 0x9d, 0x1e, 0x4c, 0x8a, 0x2b, 0x00, 0x00, 0x5f, 0x6d}
#define DMI_NAME_PREFIX "DMI-"
#define DMI_COMPANY_ID 0xFFFFu /* Bluetooth SIG: reserved for testing */

/* ---- packet types (byte 1 of every notification) ----------------------------------- */
#define DMI_TYPE_DATA 0x01u
#define DMI_TYPE_DATA_COMPACT 0x02u
#define DMI_TYPE_STATUS 0x10u
#define DMI_TYPE_RESPONSE 0x20u

/* ---- command opcodes (byte 1 of every command) -------------------------------------- */
#define DMI_OP_START_STREAMING 0x41u
#define DMI_OP_STOP_STREAMING 0x42u
#define DMI_OP_SET_RATE 0x43u
#define DMI_OP_SET_RANGES 0x44u
#define DMI_OP_IDENTIFY 0x45u
#define DMI_OP_GET_INFO 0x46u
#define DMI_OP_TIME_SYNC 0x47u

/* ---- response result codes ---------------------------------------------------------- */
#define DMI_RESULT_OK 0x00u
#define DMI_RESULT_UNKNOWN_OPCODE 0x01u
#define DMI_RESULT_INVALID_LENGTH 0x02u
#define DMI_RESULT_INVALID_PARAMETER 0x03u
#define DMI_RESULT_INVALID_STATE 0x04u
#define DMI_RESULT_UNSUPPORTED_VERSION 0x05u
#define DMI_RESULT_INTERNAL_ERROR 0x06u

/* ---- data flags (byte 2 of a full data packet) --------------------------------------- */
#define DMI_FLAG_TIME_SYNCED 0x01u
#define DMI_FLAG_FIFO_OVERRUN 0x02u
#define DMI_FLAG_CLIPPED 0x04u
#define DMI_FLAG_LOW_BATTERY 0x08u

/* ---- status error flags (u16) and device state bits ---------------------------------- */
#define DMI_ERROR_IMU_NOT_RESPONDING 0x0001u
#define DMI_ERROR_FIFO_OVERRUN 0x0002u
#define DMI_ERROR_LOW_BATTERY 0x0004u
#define DMI_ERROR_TX_QUEUE_FULL 0x0008u
#define DMI_ERROR_CLOCK_NOT_SYNCED 0x0010u
#define DMI_ERROR_SELF_TEST_FAILED 0x0020u
#define DMI_ERROR_STORAGE 0x0040u
#define DMI_STATE_STREAMING 0x01u
#define DMI_STATE_IDENTIFYING 0x02u
#define DMI_STATE_CHARGING 0x04u
#define DMI_STATE_COMPACT_FORMAT 0x08u

/* ---- data formats ------------------------------------------------------------------ */
#define DMI_FORMAT_FULL 0u
#define DMI_FORMAT_COMPACT 1u

/* ---- sizes ------------------------------------------------------------------------- */
#define DMI_BYTES_PER_SAMPLE 12u
#define DMI_DATA_HEADER_SIZE 14u
#define DMI_MAX_SAMPLES 19u                                                          /* (244 - 14) / 12 */
#define DMI_MAX_DATA_PACKET_SIZE (DMI_DATA_HEADER_SIZE + DMI_BYTES_PER_SAMPLE * DMI_MAX_SAMPLES) /* 242 */
#define DMI_COMPACT_HEADER_SIZE 8u
#define DMI_COMPACT_PACKET_SIZE 20u
#define DMI_STATUS_SIZE 16u
#define DMI_RESPONSE_HEADER_SIZE 5u
#define DMI_MAX_RESPONSE_SIZE 19u /* GET_INFO */
#define DMI_MAX_COMMAND_SIZE 7u   /* TIME_SYNC */
#define DMI_MFG_SIZE 5u
#define DMI_BATTERY_UNKNOWN 0xFFu
#define DMI_TEMPERATURE_UNKNOWN INT16_MIN

/* ---- errors ------------------------------------------------------------------------ */
typedef enum {
    DMI_OK = 0,
    DMI_ERR_TOO_SHORT = -1, /* shorter than the fixed header of its type */
    DMI_ERR_VERSION = -2,   /* unknown major version */
    DMI_ERR_TYPE = -3,      /* unknown packet type (byte 1) */
    DMI_ERR_LENGTH = -4,    /* length does not match type / opcode / sample count */
    DMI_ERR_COUNT = -5,     /* sample count outside 1..19 */
    DMI_ERR_CONFIG = -6,    /* invalid code in the config byte */
    DMI_ERR_PARAM = -7,     /* a field outside its allowed values */
    DMI_ERR_OPCODE = -8,    /* unknown command opcode */
    DMI_ERR_BUFFER = -9     /* output buffer too small / NULL argument */
} dmi_err_t;

/* "OK", "TOO_SHORT", ... (the error classes of vectors.tsv). */
const char *dmi_err_name(int err);
/* Result code a device answers a command-decoding error with (DMI_RESULT_*). */
uint8_t dmi_result_for_error(int err);

/* ---- rates and full scales ----------------------------------------------------------
 * rate code (3 bits):      0:50 1:100 2:200 3:250 4:400 5:500 6:800 7:1000 Hz
 * acc range code (2 bits): 0:±2 1:±4 2:±8 3:±16 g
 * gyro range code (3 bits): 0:±125 1:±250 2:±500 3:±1000 4:±2000 deg/s (5..7 invalid)
 * config byte = rate | acc << 3 | gyro << 5. One count = full scale / 32768. */
int dmi_rate_code(uint16_t fs_hz);          /* code or DMI_ERR_PARAM */
int dmi_acc_range_code(uint8_t acc_range_g); /* code or DMI_ERR_PARAM */
int dmi_gyr_range_code(uint16_t gyr_range_dps);
int dmi_config_byte(uint16_t fs_hz, uint8_t acc_range_g, uint16_t gyr_range_dps); /* byte or DMI_ERR_PARAM */
int dmi_parse_config(uint8_t config, uint16_t *fs_hz, uint8_t *acc_range_g, uint16_t *gyr_range_dps);
/* counts -> SI (single precision, as on a Cortex-M4F): m/s^2 with g = 9.80665; rad/s. */
float dmi_acc_mps2(int16_t counts, uint8_t acc_range_g);
float dmi_gyr_rps(int16_t counts, uint16_t gyr_range_dps);

/* ---- data packets -------------------------------------------------------------------- */
typedef struct {
    int16_t acc[3]; /* x, y, z counts, sensor frame */
    int16_t gyr[3];
} dmi_sample_t;

typedef struct {
    uint8_t version_major, version_minor;
    uint8_t compact;       /* 1 for DATA_COMPACT */
    uint8_t flags;         /* DMI_FLAG_* (0 for compact) */
    uint16_t fs_hz;
    uint8_t acc_range_g;
    uint16_t gyr_range_dps;
    uint8_t n;             /* samples */
    uint32_t counter;      /* first sample, wire width (32 bit, or 16 bit compact) */
    uint32_t timestamp_us; /* first sample, wire width (32 bit, or 24 bit compact) */
    dmi_sample_t samples[DMI_MAX_SAMPLES];
} dmi_data_packet_t;

/* Full packet: 14 + 12 n bytes (n = 1..19). `config` from dmi_config_byte(). */
int dmi_encode_data(uint8_t *out, size_t cap, uint32_t counter, uint32_t timestamp_us, uint8_t config,
                    uint8_t flags, const dmi_sample_t *samples, uint8_t n);
/* Compact packet: 20 bytes, 1 sample; counter mod 2^16, timestamp mod 2^24 are sent. */
int dmi_encode_compact(uint8_t *out, size_t cap, uint32_t counter, uint32_t timestamp_us, uint8_t config,
                       const dmi_sample_t *sample);
/* Decode a DATA or DATA_COMPACT notification. */
int dmi_decode_data(const uint8_t *buf, size_t len, dmi_data_packet_t *out);

/* ---- status ---------------------------------------------------------------------------- */
typedef struct {
    uint8_t version_major, version_minor;
    uint8_t battery_pct;      /* 0..100, DMI_BATTERY_UNKNOWN */
    uint8_t state;            /* DMI_STATE_* */
    int16_t temperature_cdeg; /* 0.01 degC, DMI_TEMPERATURE_UNKNOWN */
    uint16_t error_flags;     /* DMI_ERROR_* */
    uint32_t device_time_us;
    uint32_t samples_dropped;
} dmi_status_t;

int dmi_encode_status(uint8_t *out, size_t cap, const dmi_status_t *status);
int dmi_decode_status(const uint8_t *buf, size_t len, dmi_status_t *status);

/* ---- commands (host -> device) ---------------------------------------------------------- */
typedef struct {
    uint8_t version_major, version_minor;
    uint8_t opcode, seq;
    uint8_t format, samples_per_packet; /* START_STREAMING */
    uint16_t fs_hz;                     /* SET_RATE */
    uint8_t acc_range_g;                /* SET_RANGES */
    uint16_t gyr_range_dps;             /* SET_RANGES */
    uint8_t duration_s;                 /* IDENTIFY */
    uint32_t host_time_us;              /* TIME_SYNC */
} dmi_command_t;

int dmi_encode_command(uint8_t *out, size_t cap, const dmi_command_t *cmd);
/* On error, cmd->opcode / cmd->seq hold what the bytes carried (0 if absent), so the device
 * can answer with dmi_result_for_error(err). */
int dmi_decode_command(const uint8_t *buf, size_t len, dmi_command_t *cmd);

/* ---- responses (device -> host, notified on STATUS) ---------------------------------- */
typedef struct {
    uint8_t version_major, version_minor;
    uint8_t opcode, seq, result;
    uint8_t has_body; /* set by the decoder; the encoder writes a body iff result OK and the opcode has one */
    /* START_STREAMING body */
    uint8_t format, samples_per_packet;
    uint16_t fs_hz; /* START_STREAMING and GET_INFO */
    /* GET_INFO body */
    uint32_t serial;
    uint8_t firmware[3]; /* major, minor, patch */
    uint8_t hardware_revision;
    uint8_t acc_range_g;
    uint16_t gyr_range_dps;
    uint8_t state;
    /* TIME_SYNC body (device clock = data-packet clock) */
    uint32_t host_time_us, device_rx_us, device_tx_us;
} dmi_response_t;

int dmi_encode_response(uint8_t *out, size_t cap, const dmi_response_t *resp);
int dmi_decode_response(const uint8_t *buf, size_t len, dmi_response_t *resp);

/* ---- advertising manufacturer data (without the 2-byte company id) --------------------- */
int dmi_encode_mfg(uint8_t *out, size_t cap, uint32_t serial);
int dmi_decode_mfg(const uint8_t *buf, size_t len, uint32_t *serial, uint8_t *major, uint8_t *minor);

/* ---- firmware-side packetizer ----------------------------------------------------------
 * Collects samples from the IMU FIFO and emits a data packet every `samples_per_packet`
 * samples. The counter advances by one per sample (wrapping at 2^32; the compact format
 * sends its low 16 bits); the packet timestamp is the device clock of its first sample. */
typedef struct {
    uint8_t config;
    uint8_t compact;
    uint8_t samples_per_packet;
    uint8_t flags;         /* added to every packet (dmi_packetizer_set_flags) */
    uint8_t pending_flags; /* added to the next packet only (e.g. FIFO overrun) */
    uint8_t n;             /* samples collected for the current packet */
    uint32_t counter;      /* counter of the next sample */
    uint32_t first_timestamp_us;
    dmi_sample_t buf[DMI_MAX_SAMPLES];
} dmi_packetizer_t;

/* samples_per_packet 1..19 (forced to 1 for compact). */
int dmi_packetizer_init(dmi_packetizer_t *p, uint16_t fs_hz, uint8_t acc_range_g, uint16_t gyr_range_dps,
                        uint8_t compact, uint8_t samples_per_packet, uint32_t first_counter);
/* Add one sample taken at device time `timestamp_us`. Returns the packet length written to
 * `out` when a packet is complete, 0 when not yet, or a negative dmi_err_t. */
int dmi_packetizer_push(dmi_packetizer_t *p, const dmi_sample_t *sample, uint32_t timestamp_us, uint8_t *out,
                        size_t cap);
/* Emit the samples collected so far as a (short) packet; returns its length or 0 if none. */
int dmi_packetizer_flush(dmi_packetizer_t *p, uint8_t *out, size_t cap);
/* The IMU lost `lost` samples (FIFO overrun): advance the counter so the host sees the gap
 * and flag the next packet with DMI_FLAG_FIFO_OVERRUN. Flush first: returns DMI_ERR_COUNT
 * while a partial packet is pending (its samples would get wrong counters), else DMI_OK. */
int dmi_packetizer_skip(dmi_packetizer_t *p, uint32_t lost);
/* Data flags to add to every following packet (e.g. DMI_FLAG_TIME_SYNCED), until cleared. */
void dmi_packetizer_set_flags(dmi_packetizer_t *p, uint8_t flags);

#ifdef __cplusplus
}
#endif
#endif /* DMI_PROTOCOL_H */
