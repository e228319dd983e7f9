// Package codec is the wire model of Lync / Skype for Business Persistent Chat:
// [MS-XCCOSIP] "Extensible Chat Control Over SIP". Commands, replies, notifications
// and chat messages are XML documents carried as text/plain SIP INFO bodies, in both
// directions, inside an INVITE dialog with the chat service. The xccos driver and
// the embedded server share it.
//
// The codec (Parse, Marshal and the types they share) reads tolerantly and writes
// one canonical form. Every fact it relies on is in the XCCOS protocol note
// (docs/protocols/xccos.md, cited below as "note §N"), where each fact is tagged
// confirmed [C], inferred [I] or ours [R].
package codec

import "time"

// Namespace is the default namespace of the <xccos> root (note §4) [C].
const Namespace = "urn:parlano:xml:ns:xccos"

// ContentType is the Content-Type of an INFO carrying XCCOS; no Info-Package or
// Recv-Info header goes with it (note §3) [C].
const ContentType = "text/plain"

// Command, reply and notification names: the id attribute without its "cmd:",
// "rpl:" or "ntc:" prefix, in lower case (note §5). A command and its reply share
// the name; ntc:join, ntc:bjoin and ntc:part use NameJoin, NameBJoin and NamePart.
const (
	NameRequri        = "requri"        // ask a lookup or pool for a channel server URI (§5.1)
	NameGetServerInfo = "getserverinfo" // server limits and time; the first command on the dialog (§5.2)
	NameChanSrch      = "chansrch"      // room search by name (§5.3)
	NameJoin          = "join"          // enter one room (§5.4)
	NameBJoin         = "bjoin"         // enter several rooms, per-room failures as fib (§5.4)
	NameBCContext     = "bccontext"     // backchat: the last N messages of a room (§5.6)
	NamePart          = "part"          // leave a room (§5.8)
	NameGetInv        = "getinv"        // pending invitations; optional, answered with an empty 200 (§5.9, §9)
)

// Identifiers and values seen on the wire (note §5). Parse lower-cases info and prop
// ids; compare the other values with strings.EqualFold.
const (
	InfoUserCount   = "urn:parlano:ma:info:ucnt"      // chanib info: members in the room [C]
	InfoVisibility  = "urn:parlano:ma:info:visibilty" // chanib info, misspelled on the wire [C]
	PropFilePost    = "urn:parlano:ma:prop:filepost"  // chanib prop [C]
	PropInvite      = "urn:parlano:ma:prop:invite"    // chanib prop [C]
	PropLogged      = "urn:parlano:ma:prop:logged"    // chanib prop [C]
	QueryByName     = "BYNAME"                        // qib@qtype of a name search [C]
	ServerInfoType  = "123"                           // sib@infoType in the only sample; meaning unknown [C]
	RoleMember      = "3984"                          // aib@key: number [C], "ordinary members" is SIPE's guess [I]
	RoleOperator    = "12276"                         // aib@key: number [C], "channel operators" is SIPE's guess [I]
	OperationFailed = "OPERATION_FAILED"              // fib@key of a room rpl:bjoin could not join [I]
)

// An Envelope is one <xccos ver="1" envid="..."> document: the body of one INFO.
// It is a plain value; copies share the Items slice.
type Envelope struct {
	// EnvID is chosen by the sender (SIPE: random start, +1 per envelope) and echoed
	// in rpl/commandid@envid. The full uint64 range occurs: the server sample is
	// 7962449779256945056 (note §4) [C].
	EnvID uint64
	// Items are the envelope's children in document order. The note's envelope has
	// one child, but a server merges several rpl or ntc into one INFO [C] and may
	// push several grpchat [I], so Parse returns every one.
	Items []Item
}

// An Item is a child of an envelope: a Command, Reply, Notice or Chat value. The set
// is closed; use a type switch.
type Item interface{ item() }

// A Command is a <cmd id="cmd:NAME" seqid="1"><data>...</data></cmd>, client to
// server (note §4) [C]. It is a plain value.
type Command struct {
	// Name is the id without "cmd:", lower case (NameJoin, ...).
	Name string
	// SeqID is always "1" in traffic; correlation uses the envelope's envid, not this
	// (note §4) [C]. Parse gives "1" when it is missing; Marshal writes "" as "1".
	SeqID string
	Data  Data
}

// A Reply is an <rpl>, server to client, answering the command sent in envelope
// CommandEnvID (note §4) [C]:
//
//	<rpl id="rpl:NAME" seqid="1"><commandid seqid="1" envid="E"/><resp code="200">SUCCESS_OK</resp><data>...</data></rpl>
//
// It is a plain value.
type Reply struct {
	// Name is the id without "rpl:", lower case. Parse reads SIPE's spelling
	// "getservinfo" as NameGetServerInfo (note §5.2).
	Name  string
	SeqID string // as Command.SeqID
	// CommandEnvID and CommandSeqID are commandid@envid and @seqid. Parse gives 0 and
	// "1" when commandid is missing.
	CommandEnvID uint64
	CommandSeqID string
	// Code and Text are resp@code and resp's text ("SUCCESS_OK"). A reply without
	// resp (or resp without code) has Code 500, as SIPE assumes (note §4) [C].
	Code int
	Text string
	Data Data
}

// A Notice is an unsolicited <ntc id="ntc:NAME"><data>...</data></ntc>, server to
// client: ntc:join, ntc:bjoin and ntc:part tell the other members who came and went
// (note §5.5) [C]. It is a plain value.
type Notice struct {
	Name string // the id without "ntc:", lower case
	// SeqID is written only when set: the note's ntc samples have none.
	SeqID string
	// Code and Text are the optional resp ("resp may be missing", note §4). Code 0
	// with empty Text means no resp; a resp without code reads as 500.
	Code int
	Text string
	Data Data
}

// A Chat is one room message: an envelope-level <grpchat> in either direction
// (note §5.7), or a history entry <msg id="grpchat"> inside a rpl:bccontext chanib
// (note §5.6). It is a plain value.
type Chat struct {
	// SeqID is as Command.SeqID for grpchat; history entries have none (Parse gives "",
	// Marshal ignores it).
	SeqID   string
	ChanURI string // the room, ma-chan://domain/id (see ParseRoom)
	Author  string // the author's sip: URI
	// TS is mandatory on the wire: the server refuses a grpchat without it [C]. Parse
	// gives the zero time when it is missing and Marshal then leaves it out, so a
	// server can see and refuse such a message. Resolution is 100 ns (.NET ticks).
	TS time.Time
	// Text is the plain text of the chat child, verbatim (HTML is refused [C]).
	Text string
}

func (Command) item() {}
func (Reply) item()   {}
func (Notice) item()  {}
func (Chat) item()    {}

// Data is the content of a <data> element. Each slice holds the children of one
// kind in document order; Marshal writes the kinds in the order the note's samples
// show: uib, sib, qib, chanid, chanib, fib, bcq. Children outside the test subset
// (getinv's inv, getpref's pref, getftok's token) are skipped by Parse. It is a
// plain value.
type Data struct {
	Users    []User         // uib: requri's channel server, join's members, ntc:join's newcomer
	Servers  []ServerInfo   // sib: getserverinfo's question and answer
	Queries  []Query        // qib: chansrch's question
	ChanIDs  []ChanID       // chanid: join and bjoin's rooms
	Channels []Channel      // chanib: rooms in chansrch, join, bccontext, part and ntc:part
	Failures []Failure      // fib: rooms rpl:bjoin could not join
	History  []HistoryQuery // bcq: bccontext's question
}

// A User is a <uib>: a user, or the channel server in rpl:requri (note §5.1, §5.4,
// §5.5) [C].
type User struct {
	// ID numbers the user inside one reply, for Role.Value lists; "" when absent.
	ID    string
	URI   string // sip: URI
	Roles []Role // aib children; in ntc:join they name the room joined
}

// A Role is an <aib>. In rpl:join (under chanib) Value lists uib ids, comma
// separated; in ntc:join (under uib) Domain+Value name the room, split as in ChanID
// (note §5.4, §5.5) [C]. The Key numbers' meaning is a guess (RoleMember) [I].
type Role struct {
	Key    string
	Domain string // written only when set
	Value  string
}

// A ServerInfo is a <sib> (note §5.2) [C]. The question sets Domain and InfoType;
// the answer sets the rest. Zero fields are not written.
type ServerInfo struct {
	Domain           string
	InfoType         string
	ServerTime       time.Time
	SearchLimit      int
	MessageSizeLimit int // the advertised limit for chat text
	StorySizeLimit   int // the limit for long "story" posts
	RootURI          string
	DBVersion        string
}

// A Query is a <qib qtype="BYNAME" criteria="" extended="false"/> (note §5.3) [C].
// Empty Criteria lists every room.
type Query struct {
	Type     string // qtype, written only when set
	Criteria string // verbatim, always written
	Extended bool
}

// A ChanID is a <chanid key="0" domain="D" value="ID"/>: a room URI split in two,
// Key being its position in the batch (note §5.4) [C].
type ChanID struct {
	Key    int
	Domain string
	Value  string
}

// Room returns the room the ChanID names.
func (c ChanID) Room() Room { return Room{Domain: c.Domain, ID: c.Value} }

// A Channel is a <chanib>: a room (note §5.3–§5.8) [C]. Empty attributes are not
// written; children are written as info, prop, aib, uib, msg.
type Channel struct {
	Name        string // verbatim
	Description string // verbatim
	URI         string // ma-chan://domain/id
	Topic       string // verbatim
	Info        []Property
	Props       []Property
	Roles       []Role // aib in rpl:join
	Users       []User // uib in ntc:part
	Messages    []Chat // msg id="grpchat" in rpl:bccontext: the history
}

// A Property is an <info> or <prop>: an id (InfoUserCount, ...; lower case after
// Parse) and its text (note §5.3) [C].
type Property struct {
	ID    string
	Value string
}

// A Failure is a <fib key="OPERATION_FAILED" value="ID" domain="D"/>: a room that
// rpl:bjoin could not join, in place of its chanib (note §5.4) [I].
type Failure struct {
	Key    string
	Value  string
	Domain string
}

// Room returns the room the Failure names.
func (f Failure) Room() Room { return Room{Domain: f.Domain, ID: f.Value} }

// A HistoryQuery is a <bcq><last cnt="N"/></bcq>: the last N messages of the room
// (note §5.6) [C]. Other query forms exist but are unknown.
type HistoryQuery struct {
	Last int
}

// NewRequri returns cmd:requri, which a lookup or pool answers with the channel
// server's URI in Data.Users[0].URI (note §5.1) [C]. It is a pure function.
func NewRequri() Command { return Command{Name: NameRequri, SeqID: "1"} }

// NewGetServerInfo returns cmd:getserverinfo for the user's SIP domain, with the
// sample's infoType (note §5.2) [C]. It is a pure function.
func NewGetServerInfo(domain string) Command {
	return Command{Name: NameGetServerInfo, SeqID: "1", Data: Data{
		Servers: []ServerInfo{{Domain: domain, InfoType: ServerInfoType}}}}
}

// NewChanSrch returns cmd:chansrch by name; empty criteria lists every room
// (note §5.3) [C]. It is a pure function.
func NewChanSrch(criteria string) Command {
	return Command{Name: NameChanSrch, SeqID: "1", Data: Data{
		Queries: []Query{{Type: QueryByName, Criteria: criteria}}}}
}

// NewJoin returns cmd:join for one room (note §5.4) [C]. It is a pure function.
func NewJoin(room Room) Command {
	return Command{Name: NameJoin, SeqID: "1", Data: Data{
		ChanIDs: []ChanID{{Key: 0, Domain: room.Domain, Value: room.ID}}}}
}

// NewBJoin returns cmd:bjoin for rooms, keyed 0..n-1 (note §5.4) [C]. It is a pure
// function.
func NewBJoin(rooms ...Room) Command {
	ids := make([]ChanID, len(rooms))
	for i, r := range rooms {
		ids[i] = ChanID{Key: i, Domain: r.Domain, Value: r.ID}
	}
	return Command{Name: NameBJoin, SeqID: "1", Data: Data{ChanIDs: ids}}
}

// NewBCContext returns cmd:bccontext asking for the last n messages of room
// (note §5.6) [C]. It is a pure function.
func NewBCContext(room Room, n int) Command {
	return Command{Name: NameBCContext, SeqID: "1", Data: Data{
		Channels: []Channel{{URI: room.String()}},
		History:  []HistoryQuery{{Last: n}}}}
}

// NewPart returns cmd:part for room (note §5.8) [C]. It is a pure function.
func NewPart(room Room) Command {
	return Command{Name: NamePart, SeqID: "1", Data: Data{Channels: []Channel{{URI: room.String()}}}}
}

// NewChat returns a grpchat from author to room. ts is mandatory on the wire and
// text must be plain (note §5.7) [C]; NewChat changes neither. It is a pure function.
func NewChat(room Room, author string, ts time.Time, text string) Chat {
	return Chat{SeqID: "1", ChanURI: room.String(), Author: author, TS: ts, Text: text}
}

// NewReply returns the rpl answering c, sent in envelope envID, with code, its
// StatusText and data (note §4) [C]. It is a pure function.
func NewReply(envID uint64, c Command, code int, data Data) Reply {
	seq := c.SeqID
	if seq == "" {
		seq = "1"
	}
	return Reply{Name: c.Name, SeqID: "1", CommandEnvID: envID, CommandSeqID: seq,
		Code: code, Text: StatusText(code), Data: data}
}

// NewNotice returns an ntc without resp or seqid, as in the note's samples
// (note §5.5) [C]. It is a pure function.
func NewNotice(name string, data Data) Notice { return Notice{Name: name, Data: data} }
