package dockerports

// known is a well-known port's usual name and whether it usually carries
// plain HTTP.
type known struct {
	name string
	web  bool
}

// wellKnown names the ports that a developer recognises by number. Names
// are DNS labels, as catalog port names must be.
var wellKnown = map[uint16]known{
	21:    {"ftp", false},
	22:    {"ssh", false},
	25:    {"smtp", false},
	53:    {"dns", false},
	80:    {"http", true},
	110:   {"pop3", false},
	123:   {"ntp", false},
	143:   {"imap", false},
	161:   {"snmp", false},
	389:   {"ldap", false},
	443:   {"https", false}, // TLS end to end: fwd carries it as TCP
	465:   {"smtps", false},
	514:   {"syslog", false},
	587:   {"submission", false},
	636:   {"ldaps", false},
	993:   {"imaps", false},
	1433:  {"mssql", false},
	1521:  {"oracle", false},
	1883:  {"mqtt", false},
	2181:  {"zookeeper", false},
	2379:  {"etcd", false},
	3306:  {"mysql", false},
	3478:  {"stun", false},
	4222:  {"nats", false},
	4317:  {"otlp-grpc", false},
	4318:  {"otlp-http", true},
	5060:  {"sip", false},
	5353:  {"mdns", false},
	5432:  {"postgres", false},
	5672:  {"amqp", false},
	6379:  {"redis", false},
	6443:  {"kube-api", false},
	7687:  {"bolt", false},
	8080:  {"http-alt", true},
	8086:  {"influxdb", true},
	8200:  {"vault", true},
	8443:  {"https-alt", false},
	8500:  {"consul", true},
	8883:  {"mqtts", false},
	9042:  {"cassandra", false},
	9090:  {"prometheus", true},
	9092:  {"kafka", false},
	9200:  {"elasticsearch", true},
	11211: {"memcached", false},
	15672: {"rabbitmq-mgmt", true},
	26257: {"cockroachdb", false},
	27017: {"mongodb", false},
	50051: {"grpc", false},
	51820: {"wireguard", false},
}

// webPorts are numbers that web apps listen on by convention without a
// well-known name: a built image records them as /tcp, but they are HTTP.
var webPorts = map[uint16]bool{3000: true, 4000: true, 5000: true, 8000: true, 8008: true, 8081: true, 8888: true}

// usuallyHTTP reports whether a port that an image records as n/tcp is
// most likely HTTP.
func usuallyHTTP(n uint16) bool {
	return wellKnown[n].web || webPorts[n]
}

// usuallyNotHTTP names the well-known service of n when it is not HTTP,
// for a note on a bare EXPOSE that the rule makes HTTP.
func usuallyNotHTTP(n uint16) (string, bool) {
	w, ok := wellKnown[n]
	return w.name, ok && !w.web
}
