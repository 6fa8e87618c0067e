#!/bin/sh
# make_tls_certs.sh DIR: test certificates for a migration's tls_dir
# (src/migration/migration_tls.h), made with the openssl command. Two CAs;
# the receiver's certificate (CA 1) names localhost and 127.0.0.1, as the
# sender checks. Four tls_dirs under DIR, each with the five files:
#   good      CA 1's ca-cert.pem; server and client pairs from CA 1
#   rogue     CA 1's ca-cert.pem; the client pair from CA 2
#   other_ca  CA 2's ca-cert.pem; the client pair from CA 2
#   mismatch  CA 1's ca-cert.pem; client-key.pem is not client-cert.pem's key
# EC keys: quick to make. Valid for two days. Exit status 1 on any failure.
set -e
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
    key "$1-key.pem"
    openssl req -x509 -new -key "$1-key.pem" -out "$1-cert.pem" -days 2 -subj "/CN=kvmbox test $1" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# leaf CA NAME EXTENSIONS SERIAL
leaf() {
    key "$2-key.pem"
    openssl req -new -key "$2-key.pem" -out "$2.csr" -subj "/CN=$2" 2>/dev/null
    printf '%s\nbasicConstraints=CA:FALSE\n' "$3" > "$2.ext"
    openssl x509 -req -in "$2.csr" -CA "$1-cert.pem" -CAkey "$1-key.pem" -set_serial "$4" -days 2 \
        -extfile "$2.ext" -out "$2-cert.pem" 2>/dev/null
}
ca ca1
ca ca2
leaf ca1 server "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth" 1
leaf ca1 client "extendedKeyUsage=clientAuth" 2
leaf ca2 client2 "extendedKeyUsage=clientAuth" 3
# dir CA CLIENT-CERT CLIENT-KEY
dir() {
    mkdir "$1"
    cp server-cert.pem server-key.pem "$1/"
    cp "$2-cert.pem" "$1/ca-cert.pem"
    cp "$3-cert.pem" "$1/client-cert.pem"
    cp "$4-key.pem" "$1/client-key.pem"
}
dir good ca1 client client
dir rogue ca1 client2 client2
dir other_ca ca2 client2 client2
dir mismatch ca1 client client2
