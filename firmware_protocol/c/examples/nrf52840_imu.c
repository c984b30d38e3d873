/*
 * nrf52840_imu.c - WHERE the dmi protocol encoder sits in sensor firmware.
 *
 * Board: nRF52840 (Cortex-M4F, BLE 5, 2M PHY, data length extension) + a 6-axis IMU with a
 * hardware FIFO (ST LSM6DS3/LSM6DSO or Bosch BMI270) on SPI, FIFO watermark on a GPIO.
 *
 *     IMU FIFO --(SPI burst, watermark IRQ)--> imu_fifo_read() --> dmi_packetizer_push()
 *         --> ble_notify(DATA characteristic)          [one notification per 19 samples]
 *     host write (CONTROL characteristic) --> dmi_decode_command() --> apply settings
 *         --> dmi_encode_response() --> ble_notify(STATUS characteristic)
 *     1 Hz timer --> dmi_encode_status() --> ble_notify(STATUS) + Battery Level (0x2A19)
 *
 * This is an example of PLACEMENT, not a driver: every hardware or SoftDevice/Zephyr call is
 * an `extern` function named board_* / imu_* / ble_* below, to be provided by the real
 * firmware (nRF Connect SDK: bt_gatt_notify(), k_timer, the sensor's SPI driver; or the
 * nRF5 SDK: sd_ble_gatts_hvx(), app_timer, nrfx_spim). It compiles (cortex-m4f target of
 * firmware_protocol/Makefile) but does not link on its own.
 *
 * Timing rules this code implements (SPEC.md, "Time and counters"):
 *  - the counter counts every sample the IMU produced since START_STREAMING, including
 *    samples lost to a FIFO overrun or a full BLE TX queue, so the host sees every gap;
 *  - the packet timestamp is the device clock (1 MHz, 32 bit, free running from boot; the
 *    nRF52840 RTC at 32.768 kHz or TIMER at 1 MHz) of the packet's first sample,
 *    back-dated from the watermark interrupt time by the samples still in the FIFO.
 */
#include "../dmi_protocol.h"

/* ---- hardware / BLE stack hooks (stubs: provided by the real firmware) ---------------- */
extern uint32_t board_time_us(void);                   /* free-running 1 MHz device clock */
extern uint32_t board_serial_number(void);            /* e.g. from NRF_FICR->DEVICEID[0] */
extern uint8_t board_battery_pct(void);               /* SAADC + fuel-gauge curve */
extern int16_t imu_temperature_cdeg(void);            /* IMU die temperature, 0.01 degC */
extern int imu_configure(uint16_t fs_hz, uint8_t acc_range_g, uint16_t gyr_range_dps); /* 0 = ok */
extern int imu_start(uint8_t watermark_samples);       /* FIFO mode, watermark IRQ */
extern void imu_stop(void);
/* Reads up to `max` 6-axis samples (raw int16 counts, acc then gyro) from the FIFO;
 * sets *overrun to the number of samples the FIFO dropped since the last read. */
extern uint16_t imu_fifo_read(dmi_sample_t *samples, uint16_t max, uint32_t *overrun);
extern uint16_t ble_att_mtu(void);                     /* negotiated ATT_MTU */
/* Queue a notification; returns 0 if queued, non-zero when the TX queue is full. */
extern int ble_notify_data(const uint8_t *data, uint16_t len);
extern int ble_notify_status(const uint8_t *data, uint16_t len);
extern void ble_set_status_value(const uint8_t *data, uint16_t len); /* value returned on read */
extern void ble_set_battery_level(uint8_t pct);                      /* standard 0x180F/0x2A19 */
extern void board_identify(uint8_t duration_s);                      /* blink LED / buzz */

#define FW_MAJOR 1u
#define FW_MINOR 0u
#define FW_PATCH 0u
#define HW_REVISION 1u
#define FIFO_CHUNK 32u

/* ---- device state (static: no dynamic allocation anywhere) ----------------------------- */
static struct {
    uint16_t fs_hz;
    uint8_t acc_range_g;
    uint16_t gyr_range_dps;
    uint8_t streaming;
    uint8_t identifying;
    uint8_t time_synced;
    uint16_t errors;           /* DMI_ERROR_* */
    uint32_t samples_dropped;  /* lost to a full TX queue since START_STREAMING */
    dmi_packetizer_t packetizer;
} dev = {100u, 8u, 1000u, 0u, 0u, 0u, 0u, 0u, {0}};

static uint8_t packet[DMI_MAX_DATA_PACKET_SIZE];

/* Samples per notification for the negotiated MTU: 19 at ATT_MTU >= 245, compact below 29. */
static uint8_t samples_for_mtu(uint16_t att_mtu)
{
    uint16_t payload = (uint16_t)(att_mtu - 3u);
    if (payload < DMI_DATA_HEADER_SIZE + DMI_BYTES_PER_SAMPLE) return 0u; /* use DATA_COMPACT */
    payload = (uint16_t)((payload - DMI_DATA_HEADER_SIZE) / DMI_BYTES_PER_SAMPLE);
    return (uint8_t)(payload > DMI_MAX_SAMPLES ? DMI_MAX_SAMPLES : payload);
}

/* Samples carried by an encoded data packet of `len` bytes. */
static uint32_t samples_in(int len)
{
    if (len <= 0) return 0u;
    if ((unsigned)len == DMI_COMPACT_PACKET_SIZE && dev.packetizer.compact) return 1u;
    return ((unsigned)len - DMI_DATA_HEADER_SIZE) / DMI_BYTES_PER_SAMPLE;
}

/* ---- IMU FIFO watermark interrupt (or the work item it schedules) ----------------------- */
void imu_fifo_watermark_handler(void)
{
    dmi_sample_t samples[FIFO_CHUNK];
    uint32_t overrun = 0u, now_us, period_us;
    uint16_t n, i;
    int len;

    if (!dev.streaming) return;
    now_us = board_time_us();
    n = imu_fifo_read(samples, FIFO_CHUNK, &overrun);
    period_us = 1000000u / dev.fs_hz;
    if (overrun > 0u) {
        /* close the partial packet, then advance the counter over the lost samples */
        len = dmi_packetizer_flush(&dev.packetizer, packet, sizeof packet);
        if (len > 0 && ble_notify_data(packet, (uint16_t)len) != 0) dev.samples_dropped += samples_in(len);
        (void)dmi_packetizer_skip(&dev.packetizer, overrun);
        dev.errors |= DMI_ERROR_FIFO_OVERRUN;
    }
    for (i = 0; i < n; ++i) {
        /* sample i was taken (n - 1 - i) periods before the watermark interrupt */
        uint32_t t_us = now_us - (uint32_t)(n - 1u - i) * period_us; /* wraps like the wire field */
        len = dmi_packetizer_push(&dev.packetizer, &samples[i], t_us, packet, sizeof packet);
        if (len > 0 && ble_notify_data(packet, (uint16_t)len) != 0) {
            /* TX queue full: the packet is lost, its counters are not reused -> host sees the gap */
            dev.samples_dropped += samples_in(len);
            dev.errors |= DMI_ERROR_TX_QUEUE_FULL;
        }
    }
}

/* ---- CONTROL characteristic write handler ---------------------------------------------- */
void control_write_handler(const uint8_t *data, uint16_t len)
{
    dmi_command_t cmd;
    dmi_response_t resp = {0};
    uint8_t out[DMI_MAX_RESPONSE_SIZE];
    int err = dmi_decode_command(data, len, &cmd);
    int n;

    resp.opcode = cmd.opcode;
    resp.seq = cmd.seq;
    resp.result = dmi_result_for_error(err);
    if (err == DMI_OK) {
        switch (cmd.opcode) {
        case DMI_OP_START_STREAMING: {
            uint8_t spp = cmd.samples_per_packet;
            uint8_t compact = (uint8_t)(cmd.format == DMI_FORMAT_COMPACT);
            uint8_t fit = samples_for_mtu(ble_att_mtu());
            if (!compact && fit == 0u) {
                resp.result = DMI_RESULT_INVALID_STATE; /* MTU too small: host must ask for compact */
                break;
            }
            if (!compact && (spp == 0u || spp > fit)) spp = fit;
            if (dev.streaming ||
                dmi_packetizer_init(&dev.packetizer, dev.fs_hz, dev.acc_range_g, dev.gyr_range_dps, compact,
                                    compact ? 1u : spp, 0u) != DMI_OK ||
                imu_start(compact ? 1u : spp) != 0) {
                resp.result = dev.streaming ? DMI_RESULT_INVALID_STATE : DMI_RESULT_INTERNAL_ERROR;
                break;
            }
            dmi_packetizer_set_flags(&dev.packetizer, dev.time_synced ? DMI_FLAG_TIME_SYNCED : 0u);
            dev.streaming = 1u;
            dev.samples_dropped = 0u;
            resp.format = compact ? DMI_FORMAT_COMPACT : DMI_FORMAT_FULL;
            resp.samples_per_packet = dev.packetizer.samples_per_packet;
            resp.fs_hz = dev.fs_hz;
            break;
        }
        case DMI_OP_STOP_STREAMING:
            if (dev.streaming) {
                imu_stop();
                n = dmi_packetizer_flush(&dev.packetizer, packet, sizeof packet);
                if (n > 0) (void)ble_notify_data(packet, (uint16_t)n);
            }
            dev.streaming = 0u;
            break;
        case DMI_OP_SET_RATE:
        case DMI_OP_SET_RANGES:
            if (dev.streaming) {
                resp.result = DMI_RESULT_INVALID_STATE;
                break;
            }
            if (cmd.opcode == DMI_OP_SET_RATE) {
                dev.fs_hz = cmd.fs_hz;
            } else {
                dev.acc_range_g = cmd.acc_range_g;
                dev.gyr_range_dps = cmd.gyr_range_dps;
            }
            if (imu_configure(dev.fs_hz, dev.acc_range_g, dev.gyr_range_dps) != 0) {
                resp.result = DMI_RESULT_INTERNAL_ERROR;
                dev.errors |= DMI_ERROR_IMU_NOT_RESPONDING;
            }
            break;
        case DMI_OP_IDENTIFY:
            board_identify(cmd.duration_s);
            dev.identifying = (uint8_t)(cmd.duration_s > 0u);
            break;
        case DMI_OP_GET_INFO:
            resp.serial = board_serial_number();
            resp.firmware[0] = FW_MAJOR;
            resp.firmware[1] = FW_MINOR;
            resp.firmware[2] = FW_PATCH;
            resp.hardware_revision = HW_REVISION;
            resp.fs_hz = dev.fs_hz;
            resp.acc_range_g = dev.acc_range_g;
            resp.gyr_range_dps = dev.gyr_range_dps;
            resp.state = (uint8_t)((dev.streaming ? DMI_STATE_STREAMING : 0u) |
                                   (dev.identifying ? DMI_STATE_IDENTIFYING : 0u));
            break;
        case DMI_OP_TIME_SYNC:
            resp.host_time_us = cmd.host_time_us;
            resp.device_rx_us = board_time_us(); /* ideally captured in the write callback */
            dev.time_synced = 1u;
            dev.errors &= (uint16_t)~DMI_ERROR_CLOCK_NOT_SYNCED;
            dmi_packetizer_set_flags(&dev.packetizer, DMI_FLAG_TIME_SYNCED);
            resp.device_tx_us = board_time_us();
            break;
        default:
            break;
        }
    }
    n = dmi_encode_response(out, sizeof out, &resp);
    if (n > 0) (void)ble_notify_status(out, (uint16_t)n);
}

/* ---- 1 Hz status timer ------------------------------------------------------------------ */
void status_timer_handler(void)
{
    dmi_status_t st;
    uint8_t out[DMI_STATUS_SIZE];
    int n;
    st.version_major = DMI_PROTOCOL_MAJOR;
    st.version_minor = DMI_PROTOCOL_MINOR;
    st.battery_pct = board_battery_pct();
    st.state = (uint8_t)((dev.streaming ? DMI_STATE_STREAMING : 0u) | (dev.identifying ? DMI_STATE_IDENTIFYING : 0u) |
                         (dev.packetizer.compact && dev.streaming ? DMI_STATE_COMPACT_FORMAT : 0u));
    st.temperature_cdeg = imu_temperature_cdeg();
    st.error_flags = (uint16_t)(dev.errors | (dev.time_synced ? 0u : DMI_ERROR_CLOCK_NOT_SYNCED) |
                                (st.battery_pct < 15u ? DMI_ERROR_LOW_BATTERY : 0u));
    st.device_time_us = board_time_us();
    st.samples_dropped = dev.samples_dropped;
    n = dmi_encode_status(out, sizeof out, &st);
    if (n > 0) {
        ble_set_status_value(out, (uint16_t)n);
        (void)ble_notify_status(out, (uint16_t)n);
    }
    ble_set_battery_level(st.battery_pct);
}

/* ---- advertising payload ------------------------------------------------------------ */
/* Fills the manufacturer-specific AD structure: company id (LE) then serial + version. */
int build_manufacturer_data(uint8_t *out, size_t cap)
{
    int n;
    if (cap < 2u + DMI_MFG_SIZE) return DMI_ERR_BUFFER;
    out[0] = (uint8_t)(DMI_COMPANY_ID & 0xFFu);
    out[1] = (uint8_t)(DMI_COMPANY_ID >> 8);
    n = dmi_encode_mfg(out + 2, cap - 2u, board_serial_number());
    return n < 0 ? n : n + 2;
}
