#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the repository's own test data: the golden Lumberjack
# captures, every parser's fixture lines, example configs, and a few syslog streams.
# Run from anywhere; the corpus directories are not committed (fuzz/.gitignore).
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz")
corpus="$fuzz/corpus"
mkdir -p "$corpus/proto_decode" "$corpus/parse_line" "$corpus/syslog_framing" \
    "$corpus/syslog_header" "$corpus/config_load"

# proto_decode: <read-size seed> <stream>
for f in "$root"/proto/*.bin; do
    { printf '\007'; cat "$f"; } > "$corpus/proto_decode/$(basename "$f")"
done

# parse_line: <format index in Format::ALL> <lines>; one seed per fixture line and one
# per whole valid.log (an AWS header line sets the fields of the lines after it).
i=0
for format in azure-nsg azure-vnet azure-traffic-analytics iptables conntrack websense \
    cef access-log leef pattern aws-vpc; do
    byte=$(printf '\\%03o' "$i")
    dir="$root/tests/fixtures/parse/$format"
    n=0
    for file in valid.log malformed.log; do
        [ -f "$dir/$file" ] || continue
        { printf "$byte"; cat "$dir/$file"; } > "$corpus/parse_line/$format-$file"
        while IFS= read -r line; do
            n=$((n + 1))
            { printf "$byte"; printf '%s' "$line"; } > "$corpus/parse_line/$format-$n"
        done < "$dir/$file"
    done
    i=$((i + 1))
done

# syslog_framing: <framing and delimiter> <limit> <read-size seed> <stream>
printf '\000\040\003<13>Oct 11 22:14:15 host app[7]: one\n<13>two\r\n\n<14>three' \
    > "$corpus/syslog_framing/delimited"
printf '\001\040\005%s' '27 <13>1 - - - - - - counted<13>line
9 <14>hello' > "$corpus/syslog_framing/rfc6587"
printf '\003\010\011a\r\nbb\r\ncccccccccccccccccc\r\nd' > "$corpus/syslog_framing/crlf"
printf '\007\004\001abc||defghij||k||' > "$corpus/syslog_framing/pipes"

# syslog_header: <format and zone> <now, 8 bytes little-endian> <message>
now='\000\000\000\150\000\000\000\000'
for m in '<34>Oct 11 22:14:15 mymachine su: '"'"'su root'"'"' failed for lonvick on /dev/pts/8' \
    '<13>Feb  5 17:32:18 10.0.0.99 myproc[8710]: %% It'"'"'s time to make the do-nuts.' \
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] BOMAn application event' \
    '<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It'"'"'s time' \
    '<190>2024-03-01T10:00:00+01:00 proxy squid[12]: 1709283600.000 12 10.0.0.1 TCP_MISS/200' \
    '<14>1 - - - - - [a b="\"\\\]"][c] m'; do
    for pick in 0 1 2; do
        name=$(printf '%s' "$m" | cksum | cut -d' ' -f1)
        { printf "\\00$pick$now"; printf '%s' "$m"; } > "$corpus/syslog_header/$name-$pick"
    done
done

# config_load: the example configs.
cp "$root"/config/*.yml "$corpus/config_load/"
echo "seeded $(find "$corpus" -type f | wc -l) files under $corpus"
