package requests

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/privacy"
)

// Actors in a request's history besides "ops[:name]" and "app:<id>".
const (
	actorSubject = "subject"
	actorSystem  = "system"
)

// newToken returns a request token (256 random bits) and its stored hash.
func (h *handler) newToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, h.tokenHash(token), nil
}

func (h *handler) tokenHash(token string) string { return h.d.Keys.Hash("request-token:" + token) }

// tokenMatches compares in constant time; an empty token never matches.
func (h *handler) tokenMatches(r *privacy.Request, token string) bool {
	if token == "" || r.TokenHash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h.tokenHash(token)), []byte(r.TokenHash)) == 1
}

// newCode returns a uniformly random six-digit code.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// codeHash binds a code to its request, so a hash copied to another request
// is useless.
func (h *handler) codeHash(requestID, code string) string {
	return h.d.Keys.Hash("request-code:" + requestID + ":" + code)
}

// issueCode starts a new code period: fresh code, attempts reset.
func (h *handler) issueCode(r *privacy.Request, code string, now time.Time) {
	v := r.Verify
	if v == nil {
		v = &privacy.Verification{}
		r.Verify = v
	}
	v.CodeHash = h.codeHash(r.ID, code)
	v.ExpiresAt = now.Add(codeTTL)
	v.Attempts = 0
	v.Sends++
	v.SentAt = now
}

// openTwin finds the earliest open request of r's type for r's subject whose
// requester was identified: the one r duplicates (R19). Unverified requests
// never count, so a forged request cannot block the real one.
func openTwin(r *privacy.Request, siblings []*privacy.Request) *privacy.Request {
	var twins []*privacy.Request
	for _, s := range siblings {
		if s.ID != r.ID && s.SubjectKey == r.SubjectKey && s.Type == r.Type && s.Open() && s.VerifiedAt != nil {
			twins = append(twins, s)
		}
	}
	if len(twins) == 0 {
		return nil
	}
	sort.Slice(twins, func(i, j int) bool { return twins[i].CreatedAt.Before(twins[j].CreatedAt) })
	return twins[0]
}

// establish moves a request whose requester has just been identified (code
// or attestation) to where it goes next: duplicate of an open twin,
// verified with its due date, and on to review when a person must act.
func (h *handler) establish(r *privacy.Request, actor, reason string, now time.Time, siblings []*privacy.Request) error {
	if r.Type != "" {
		if twin := openTwin(r, siblings); twin != nil {
			r.DuplicateOf = twin.ID
			return r.Move(privacy.StatusDuplicate, actor, reason+"; duplicate of open request "+twin.ID, now)
		}
	}
	if err := r.Move(privacy.StatusVerified, actor, reason, now); err != nil {
		return err
	}
	h.setDue(r)
	next := ""
	switch {
	case r.Type == "":
		next = "the mail's intent is unclear: a person classifies it"
	case len(r.Devices) > 0:
		next = "the mail names device ids: acting on them needs the app developer's attestation"
	case r.Type.Reviewed():
		next = "complaints and appeals are answered by a person"
	}
	if next != "" {
		return r.Move(privacy.StatusNeedsReview, actorSystem, next, now)
	}
	return nil
}

// setDue computes the due date from the verification time. A calendar
// without data for the period leaves DueAt empty and says why in DueError:
// the request stays verified (the person did their part), ops see the
// error, the deadlines sweep escalates it and retries the computation once
// the holiday data is updated. A guessed date could be later than the
// legal one, so none is made up.
func (h *handler) setDue(r *privacy.Request) {
	if r.Type == "" || r.VerifiedAt == nil || r.DueAt != nil {
		return
	}
	due, err := privacy.DueDate(h.d.Calendar, r.Type, *r.VerifiedAt)
	if err != nil {
		r.DueError = err.Error()
		return
	}
	r.DueAt, r.DueError = &due, ""
}

// changeEvents are the events for the transitions r made since history
// index from: request.changed for each (the audit trail) and
// request.verified when a typed request reached verified (fulfilment).
func changeEvents(r *privacy.Request, from int) []events.Event {
	var out []events.Event
	for _, t := range r.History[from:] {
		d := requestData(r)
		d.Status, d.From, d.Actor, d.Reason = string(t.To), string(t.From), t.Actor, t.Reason
		out = append(out, events.Must(events.RequestChanged, r.ID, d))
		if t.To == privacy.StatusVerified && r.Type != "" {
			out = append(out, events.Must(events.RequestVerified, r.ID, d))
		}
	}
	return out
}

func requestData(r *privacy.Request) events.RequestData {
	d := events.RequestData{RequestID: r.ID, Type: string(r.Type), Status: string(r.Status),
		Channel: r.Channel, SubjectKey: r.SubjectKey}
	if r.DueAt != nil {
		d.DueAt = r.DueAt.UTC().Format(time.RFC3339)
	}
	return d
}

// notification asks notify to mail the requester (SPEC: notify sends
// everything but codes).
func notification(r *privacy.Request, to, template, key string, vars map[string]string) events.Event {
	return events.Must(events.NotificationRequested, r.ID, events.NotificationData{
		Key: key, Channel: "email", To: to, Template: template, Lang: r.Lang,
		Vars: vars, SubjectKey: r.SubjectKey, Ref: r.ID})
}

// typeNames are the request types as the notices name them.
var typeNames = map[privacy.RequestType][2]string{
	privacy.ReqAccess:          {"访问个人信息", "access"},
	privacy.ReqCopy:            {"获取个人信息副本", "copy of personal information"},
	privacy.ReqPortability:     {"个人信息转移", "portability"},
	privacy.ReqCorrect:         {"更正个人信息", "correction"},
	privacy.ReqDelete:          {"删除个人信息", "deletion"},
	privacy.ReqWithdrawConsent: {"撤回同意", "withdrawal of consent"},
	privacy.ReqCancelAccount:   {"注销账号", "account cancellation"},
	privacy.ReqComplaint:       {"投诉举报", "complaint"},
	privacy.ReqAppeal:          {"自动化决策申诉", "appeal of an automated decision"},
	"":                         {"待人工分类", "to be classified by our staff"},
}

// refusalNames are the policy's reasons (section 六, "we may not be able to
// respond") in its own words.
var refusalNames = map[privacy.RefusalReason][2]string{
	privacy.RefuseLegalObligation:  {"与个人信息控制者履行法律法规规定的义务相关", "related to our obligations under laws and regulations"},
	privacy.RefuseNationalSecurity: {"与国家安全、国防安全有关", "related to national security or national defence"},
	privacy.RefusePublicInterest:   {"与公共安全、公共卫生、重大公共利益有关", "related to public safety, public health or major public interests"},
	privacy.RefuseCriminalCase:     {"与犯罪侦查、起诉和审判等有关", "related to criminal investigation, prosecution or trial"},
	privacy.RefuseAbuse:            {"有充分证据表明您存在主观恶意或滥用权利", "there is sufficient evidence of malice or abuse of rights"},
	privacy.RefuseVitalInterests:   {"出于维护您或其他个人的生命、财产等重大合法权益但又很难得到本人同意", "to protect the life, property or other vital interests of you or others where consent is hard to obtain"},
	privacy.RefuseThirdPartyHarm:   {"响应您的请求将导致其他个人、组织的合法权益受到严重损害", "responding would seriously harm the lawful rights of others"},
	privacy.RefuseTradeSecret:      {"涉及商业秘密", "it involves trade secrets"},
}

func (h *handler) baseVars(r *privacy.Request) map[string]string {
	names := typeNames[r.Type]
	return map[string]string{"request_id": r.ID, "type": names[1], "type_zh": names[0]}
}
