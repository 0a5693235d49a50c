#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula key cert`: what it writes is read by OpenSSL and GnuTLS's certtool
# as a self-signed Ed25519 certificate over the node id, with the SANs asked
# for and ~10 years' validity, and the identity's PKCS#8 private key (0600).
. "$MACULA_TEST_HELPERS/interop.sh"
for tool in openssl certtool; do
  command -v "$tool" >/dev/null || t_fail "$tool is not installed (scripts/test.sh installs it)"
done
dir=$T_DIR
# Last 32 bytes of a DER SubjectPublicKeyInfo (Ed25519: the raw key) in hex.
spki_key_hex() { tail -c 32 | od -An -v -tx1 | tr -d ' \n'; }

"$MACULA" key gen -o "$dir/node.key"
node_id=$(t_node_id "$dir/node.key")
[ ${#node_id} = 64 ] || t_fail "no node id from key show"

# --- the files ---
out=$("$MACULA" key cert "$dir/node.key" --san 127.0.0.1 --san localhost --san ::1 \
  --cert-out "$dir/cert.pem" --key-out "$dir/key.pem")
[ "$out" = "node_id $node_id" ] || t_fail "key cert printed '$out', expected the node id"
[ "$(stat -c %a "$dir/key.pem")" = 600 ] || t_fail "key.pem has mode $(stat -c %a "$dir/key.pem"), expected 600"
leftovers=$(find "$dir" -name '*.tmp.*' | wc -l)
[ "$leftovers" = 0 ] || t_fail "temporary files left behind"

# --- OpenSSL reads the certificate ---
subject=$(openssl x509 -in "$dir/cert.pem" -noout -subject -nameopt RFC2253)
issuer=$(openssl x509 -in "$dir/cert.pem" -noout -issuer -nameopt RFC2253)
[ "$subject" = "subject=CN=Macula Identity" ] || t_fail "subject is '$subject'"
[ "$issuer" = "issuer=CN=Macula Identity" ] || t_fail "issuer is '$issuer'"
sans=$(openssl x509 -in "$dir/cert.pem" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')
[ "$sans" = "IPAddress:127.0.0.1,DNS:localhost,IPAddress:0:0:0:0:0:0:0:1" ] || t_fail "SANs are '$sans'"
text=$(openssl x509 -in "$dir/cert.pem" -noout -text)
grep -q "Signature Algorithm: ED25519" <<<"$text" || t_fail "not signed with Ed25519"
grep -q "CA:FALSE" <<<"$text" || t_fail "basicConstraints CA:FALSE missing"
grep -q "Digital Signature" <<<"$text" || t_fail "keyUsage digitalSignature missing"
grep -q "TLS Web Server Authentication" <<<"$text" || t_fail "extKeyUsage serverAuth missing"
grep -q "Subject Key Identifier" <<<"$text" || t_fail "subject key id missing"
grep -q "Version: 3" <<<"$text" || t_fail "not an X.509 v3 certificate"
start=$(date -d "$(openssl x509 -in "$dir/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
end=$(date -d "$(openssl x509 -in "$dir/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
now=$(date +%s)
[ "$start" -le "$now" ] || t_fail "certificate not yet valid"
days=$(((end - start) / 86400))
((days >= 3640 && days <= 3660)) || t_fail "validity is $days days, expected ~10 years"
openssl verify -CAfile "$dir/cert.pem" -check_ss_sig "$dir/cert.pem" >/dev/null ||
  t_fail "the self-signature does not verify"
cert_key=$(openssl x509 -in "$dir/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | spki_key_hex)
[ "$cert_key" = "$node_id" ] || t_fail "certificate key $cert_key is not the node id $node_id"

# --- OpenSSL reads the PKCS#8 key: the identity's, matching the certificate ---
head -n 1 "$dir/key.pem" | grep -qx -- "-----BEGIN PRIVATE KEY-----" || t_fail "key.pem is not PKCS#8 PEM"
openssl pkey -in "$dir/key.pem" -noout -text | grep -q "ED25519 Private-Key" || t_fail "openssl cannot read key.pem"
key_pub=$(openssl pkey -in "$dir/key.pem" -pubout -outform DER | spki_key_hex)
[ "$key_pub" = "$node_id" ] || t_fail "PKCS#8 key's public key $key_pub is not the node id"

# --- GnuTLS's certtool reads both ---
info=$(certtool --certificate-info --infile "$dir/cert.pem")
grep -q "Subject Public Key Algorithm: EdDSA (Ed25519)" <<<"$info" || t_fail "certtool: not an Ed25519 key"
grep -q "Subject: CN=Macula Identity" <<<"$info" || t_fail "certtool: wrong subject"
certtool --key-info --infile "$dir/key.pem" >/dev/null || t_fail "certtool cannot read key.pem"

# --- a new run replaces both files (fresh serial) and keeps the key private ---
serial1=$(openssl x509 -in "$dir/cert.pem" -noout -serial)
chmod 644 "$dir/key.pem"
"$MACULA" key cert "$dir/node.key" --cert-out "$dir/cert.pem" --key-out "$dir/key.pem" >/dev/null
serial2=$(openssl x509 -in "$dir/cert.pem" -noout -serial)
[ "$serial1" != "$serial2" ] || t_fail "serial did not change between two certificates"
[ "$(stat -c %a "$dir/key.pem")" = 600 ] || t_fail "rewritten key.pem is not mode 600"
if openssl x509 -in "$dir/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q Address; then
  t_fail "a certificate made without --san has SANs"
fi

# --- failures: exit codes and reasons ---
t_expect_exit 2 "cannot load key file" "$MACULA" key cert "$dir/absent.key" --cert-out "$dir/c2.pem" --key-out "$dir/k2.pem"
t_expect_exit 2 "usage" "$MACULA" key cert "$dir/node.key" --cert-out "$dir/c2.pem"
t_expect_exit 2 "usage" "$MACULA" key cert --cert-out "$dir/c2.pem" --key-out "$dir/k2.pem"
t_expect_exit 2 "different files" "$MACULA" key cert "$dir/node.key" --cert-out "$dir/x.pem" --key-out "$dir/x.pem"
t_expect_exit 2 "IP address or a DNS name" "$MACULA" key cert "$dir/node.key" --san "bad name" \
  --cert-out "$dir/c2.pem" --key-out "$dir/k2.pem"
t_expect_exit 1 "cannot write" "$MACULA" key cert "$dir/node.key" --cert-out "$dir/c2.pem" \
  --key-out "$dir/no/such/dir/k2.pem"
[ ! -e "$dir/c2.pem" ] || t_fail "a failed run left a certificate behind"
echo "ok"
