/**
 * An ICMP echo with the don't-fragment bit forced (IP_MTU_DISCOVER = IP_PMTUDISC_DO): busybox ping
 * cannot set it, and without it the kernel fragments a too-large echo and the ping passes anyway.
 * Exit 0: reply; 1: no reply; 2: the kernel refused to send (EMSGSIZE).
 */
export const DF_PING = String.raw`
use strict; use Socket;
my ($dst, $size) = @ARGV;
socket(my $s, PF_INET, SOCK_RAW, 1) or die "socket: $!";
setsockopt($s, 0, 10, pack('i', 2)) or die "setsockopt: $!";
my $id = $$ & 0xffff;
my $pkt = pack('CCnnn', 8, 0, 0, $id, 1) . ('x' x $size);
my $sum = 0; $sum += $_ for unpack('n*', $pkt . (length($pkt) % 2 ? "\0" : ''));
$sum = ($sum >> 16) + ($sum & 0xffff); $sum += $sum >> 16;
substr($pkt, 2, 2) = pack('n', ~$sum & 0xffff);
send($s, $pkt, 0, sockaddr_in(0, inet_aton($dst))) or do { print "send: $!\n"; exit 2 };
my $end = time + 2;
while (time <= $end) {
  my $rin = ''; vec($rin, fileno($s), 1) = 1;
  last unless select(my $r = $rin, undef, undef, 1);
  recv($s, my $buf, 65535, 0);
  my $ihl = (ord($buf) & 15) * 4;
  my ($type, $code, $ck, $rid) = unpack('CCnn', substr($buf, $ihl));
  if ($type == 0 && $rid == $id) { print "reply\n"; exit 0 }
}
print "timeout\n"; exit 1;
`;
