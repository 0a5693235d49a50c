/* SPDX-License-Identifier: Apache-2.0 */
/* Batched non-blocking UDP I/O with GSO/GRO where available (see udp_socket.h). */
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macula/common.h"
#include "quic/udp_socket.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* One GSO send carries at most this many bytes (a UDP datagram's limit,
 * less headers, with room to spare). */
#define UDP_GSO_LIMIT 65000

/* Socket buffers big enough for a fast stream's bursts; the kernel caps
 * them at its rmem_max/wmem_max. */
#define UDP_SOCKBUF (8 * 1024 * 1024)

static void set_why(char *why, size_t why_len, const char *call, const char *a, int e)
{
    if (why && why_len)
        snprintf(why, why_len, "%s(%s): %s", call, a, strerror(e));
}

int macula__udp_open(macula__udp_socket *s, const char *host, uint16_t port, char *why, size_t why_len)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    if (!host)
        host = "0.0.0.0";
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) {
        if (why && why_len)
            snprintf(why, why_len, "bind address '%s' is not a numeric IPv4 or IPv6 address", host);
        return MACULA_ERR_INVALID_ARG;
    }
    s->family = res->ai_family;
    s->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        set_why(why, why_len, "socket", host, errno);
        freeaddrinfo(res);
        return MACULA_ERR_IO;
    }
    int on = 1, off = 0, buf = UDP_SOCKBUF;
    if (s->family == AF_INET6) {
        /* "::" serves IPv4 peers too (as mapped addresses). */
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
        int pmtu = IPV6_PMTUDISC_DO; /* QUIC probes the path MTU itself */
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    } else {
        setsockopt(s->fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
        int pmtu = IP_PMTUDISC_DO;
        setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    }
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    int seg = 1200;
    s->gso = setsockopt(s->fd, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0;
    if (s->gso) {
        seg = 0; /* per-message segment sizes come with each sendmsg */
        setsockopt(s->fd, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof seg);
    }
    s->gro = setsockopt(s->fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;
    if (bind(s->fd, res->ai_addr, res->ai_addrlen) != 0) {
        set_why(why, why_len, "bind", host, errno);
        int e = errno;
        freeaddrinfo(res);
        macula__udp_close(s);
        return e == EADDRINUSE || e == EACCES || e == EADDRNOTAVAIL ? MACULA_ERR_IO : MACULA_ERR_IO;
    }
    freeaddrinfo(res);
    s->local_len = sizeof s->local;
    getsockname(s->fd, (struct sockaddr *)&s->local, &s->local_len);
    s->rx_buf = malloc((size_t)MACULA__UDP_RX_BATCH * MACULA__UDP_RX_BUF);
    s->tx_buf = malloc(MACULA__UDP_TX_BUF);
    if (!s->rx_buf || !s->tx_buf) {
        macula__udp_close(s);
        if (why && why_len)
            snprintf(why, why_len, "out of memory");
        return MACULA_ERR_NOMEM;
    }
    return 0;
}

void macula__udp_close(macula__udp_socket *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->rx_buf);
    free(s->tx_buf);
    s->rx_buf = s->tx_buf = NULL;
}

int macula__udp_recv_batch(macula__udp_socket *s, macula__udp_datagram_fn fn, void *ctx)
{
    struct mmsghdr msgs[MACULA__UDP_RX_BATCH];
    struct iovec iov[MACULA__UDP_RX_BATCH];
    struct sockaddr_storage from[MACULA__UDP_RX_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        uint64_t align; /* cmsghdr alignment */
    } ctrl[MACULA__UDP_RX_BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < MACULA__UDP_RX_BATCH; i++) {
        iov[i].iov_base = s->rx_buf + (size_t)i * MACULA__UDP_RX_BUF;
        iov[i].iov_len = MACULA__UDP_RX_BUF;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        msgs[i].msg_hdr.msg_control = ctrl[i].buf;
        msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
    }
    int n = recvmmsg(s->fd, msgs, MACULA__UDP_RX_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        /* An ICMP error surfaced here: the error queue has the details. */
        if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
            return 0;
        return MACULA_ERR_IO;
    }
    for (int i = 0; i < n; i++) {
        size_t total = msgs[i].msg_len;
        size_t seg = total;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm; cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
            if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
                int gso;
                memcpy(&gso, CMSG_DATA(cm), sizeof gso);
                if (gso > 0)
                    seg = (size_t)gso;
            }
        }
        const uint8_t *p = iov[i].iov_base;
        for (size_t off = 0; off < total; off += seg) {
            size_t len = total - off < seg ? total - off : seg;
            fn(ctx, p + off, len, (const struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen);
        }
    }
    return n;
}

void macula__udp_read_errors(macula__udp_socket *s, macula__udp_error_fn fn, void *ctx)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        uint8_t data[64];
        struct sockaddr_storage to;
        union {
            char buf[512];
            uint64_t align; /* cmsghdr alignment */
        } ctrl;
        struct iovec iov = {data, sizeof data};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_name = &to;
        mh.msg_namelen = sizeof to;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = sizeof ctrl.buf;
        if (recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            int v4 = cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR;
            int v6 = cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR;
            if (!v4 && !v6)
                continue;
            /* struct sock_extended_err: errno (u32), origin (u8), ... */
            uint32_t ee_errno;
            uint8_t ee_origin;
            memcpy(&ee_errno, CMSG_DATA(cm), sizeof ee_errno);
            memcpy(&ee_origin, CMSG_DATA(cm) + sizeof ee_errno, sizeof ee_origin);
            if (ee_origin == SO_EE_ORIGIN_ICMP || ee_origin == SO_EE_ORIGIN_ICMP6)
                fn(ctx, (const struct sockaddr *)&to, mh.msg_namelen, (int)ee_errno);
        }
    }
}

static int same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, blen) == 0;
}

static void send_plain(macula__udp_socket *s, const uint8_t *data, size_t len, size_t seg, size_t nseg)
{
    struct mmsghdr msgs[MACULA__UDP_MAX_SEGMENTS];
    struct iovec iov[MACULA__UDP_MAX_SEGMENTS];
    memset(msgs, 0, sizeof msgs);
    size_t off = 0;
    for (size_t i = 0; i < nseg; i++) {
        size_t l = len - off < seg ? len - off : seg;
        iov[i].iov_base = (void *)(uintptr_t)(data + off);
        iov[i].iov_len = l;
        msgs[i].msg_hdr.msg_name = &s->tx_to;
        msgs[i].msg_hdr.msg_namelen = s->tx_to_len;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        off += l;
    }
    size_t done = 0;
    while (done < nseg) {
        int n = sendmmsg(s->fd, msgs + done, (unsigned)(nseg - done), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->tx_dropped += nseg - done; /* QUIC's loss recovery resends */
            return;
        }
        done += (size_t)n;
    }
}

static void send_gso(macula__udp_socket *s, const uint8_t *data, size_t len, size_t seg, size_t nseg)
{
    if (nseg == 1 || !s->gso) {
        send_plain(s, data, len, seg, nseg);
        return;
    }
    struct iovec iov = {(void *)(uintptr_t)data, len};
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        uint64_t align; /* cmsghdr alignment */
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &s->tx_to;
    mh.msg_namelen = s->tx_to_len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl.buf;
    mh.msg_controllen = sizeof ctrl.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = IPPROTO_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segsz = (uint16_t)seg;
    memcpy(CMSG_DATA(cm), &segsz, sizeof segsz);
    for (;;) {
        if (sendmsg(s->fd, &mh, MSG_DONTWAIT) >= 0)
            return;
        if (errno == EINTR)
            continue;
        if (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP) {
            /* The route cannot offload segmentation: stop using GSO. */
            s->gso = 0;
            send_plain(s, data, len, seg, nseg);
            return;
        }
        s->tx_dropped += nseg;
        return;
    }
}

void macula__udp_tx_flush(macula__udp_socket *s)
{
    if (s->tx_nseg)
        send_gso(s, s->tx_buf, s->tx_len, s->tx_seg, s->tx_nseg);
    s->tx_len = s->tx_seg = s->tx_nseg = 0;
    s->tx_short = 0;
}

uint8_t *macula__udp_tx_slot(macula__udp_socket *s, const struct sockaddr *to, socklen_t to_len, size_t max_len)
{
    if (max_len > MACULA__UDP_TX_BUF)
        max_len = MACULA__UDP_TX_BUF;
    if (s->tx_nseg &&
        (s->tx_short || s->tx_nseg >= MACULA__UDP_MAX_SEGMENTS || s->tx_len + max_len > UDP_GSO_LIMIT ||
         !same_addr(&s->tx_to, s->tx_to_len, to, to_len)))
        macula__udp_tx_flush(s);
    if (!s->tx_nseg) {
        memcpy(&s->tx_to, to, to_len);
        s->tx_to_len = to_len;
    }
    return s->tx_buf + s->tx_len;
}

void macula__udp_tx_commit(macula__udp_socket *s, size_t len)
{
    if (len == 0)
        return;
    if (s->tx_nseg && len > s->tx_seg) {
        /* A longer packet cannot follow shorter segments in one GSO send:
         * send those first and start again with this one. */
        uint8_t *pkt = s->tx_buf + s->tx_len;
        send_gso(s, s->tx_buf, s->tx_len, s->tx_seg, s->tx_nseg);
        memmove(s->tx_buf, pkt, len);
        s->tx_len = s->tx_nseg = 0;
        s->tx_short = 0;
    }
    if (!s->tx_nseg)
        s->tx_seg = len;
    else if (len < s->tx_seg)
        s->tx_short = 1;
    s->tx_len += len;
    s->tx_nseg++;
}

void macula__udp_send_one(macula__udp_socket *s, const struct sockaddr *to, socklen_t to_len, const uint8_t *data,
                          size_t len)
{
    macula__udp_tx_flush(s);
    while (sendto(s->fd, data, len, MSG_DONTWAIT, to, to_len) < 0 && errno == EINTR)
        ;
}
