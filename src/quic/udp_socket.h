/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: a non-blocking UDP socket with batched I/O. Receiving uses
 * recvmmsg and, where the kernel offers it, UDP GRO (several datagrams of
 * one sender in one buffer); sending collects a connection's packets into
 * one buffer and hands them to the kernel in one sendmsg with UDP GSO
 * (segmentation offload), or one sendmmsg without it. IP_RECVERR reports
 * ICMP errors (e.g. port unreachable) through the error queue.
 */
#ifndef MACULA_QUIC_UDP_SOCKET_H
#define MACULA_QUIC_UDP_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MACULA__UDP_RX_BATCH 16
#define MACULA__UDP_RX_BUF 65536
#define MACULA__UDP_TX_BUF 65536
#define MACULA__UDP_MAX_SEGMENTS 64

typedef struct macula__udp_socket {
    int fd;
    int family;
    int gso;
    int gro;
    struct sockaddr_storage local;
    socklen_t local_len;
    uint8_t *rx_buf;
    uint8_t *tx_buf;
    size_t tx_len;   /* bytes collected */
    size_t tx_seg;   /* segment size (the first packet's length) */
    size_t tx_nseg;
    int tx_short;    /* the last segment is shorter: nothing may follow */
    struct sockaddr_storage tx_to;
    socklen_t tx_to_len;
    uint64_t tx_dropped; /* datagrams the kernel refused (counted as loss) */
} macula__udp_socket;

/* Binds `host` (numeric; NULL = 0.0.0.0) : `port`. 0 or a macula_err; on
 * failure `why` says what went wrong. */
int macula__udp_open(macula__udp_socket *s, const char *host, uint16_t port, char *why, size_t why_len);
void macula__udp_close(macula__udp_socket *s);

typedef void (*macula__udp_datagram_fn)(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *from,
                                        socklen_t from_len);
/* Reads one batch; calls `fn` per datagram. Returns datagrams read (0 when
 * the socket is drained) or a negative macula_err. */
int macula__udp_recv_batch(macula__udp_socket *s, macula__udp_datagram_fn fn, void *ctx);

typedef void (*macula__udp_error_fn)(void *ctx, const struct sockaddr *to, socklen_t to_len, int error);
/* Drains the error queue (ICMP errors about datagrams we sent). */
void macula__udp_read_errors(macula__udp_socket *s, macula__udp_error_fn fn, void *ctx);

/* Where to write the next packet for `to`, at most `max_len` bytes; sends
 * what was collected first when it cannot be batched with it. */
uint8_t *macula__udp_tx_slot(macula__udp_socket *s, const struct sockaddr *to, socklen_t to_len, size_t max_len);
/* The packet written at the slot is `len` bytes long. */
void macula__udp_tx_commit(macula__udp_socket *s, size_t len);
/* Sends everything collected. */
void macula__udp_tx_flush(macula__udp_socket *s);
/* One datagram now (after flushing the batch). */
void macula__udp_send_one(macula__udp_socket *s, const struct sockaddr *to, socklen_t to_len, const uint8_t *data,
                          size_t len);

#endif
