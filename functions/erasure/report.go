package erasure

import (
	"fmt"
	"strings"

	"github.com/veil-privacy/veil/privacy"
)

// reportVars are the notice's variables: what was deleted, what was kept
// and why (the legal basis and how long), who was asked to delete.
func (x *eraser) reportVars(req *privacy.Request, rep *Report, cancel bool) map[string]string {
	policy, err := x.d.Config.Retention()
	if err != nil {
		policy = privacy.DefaultRetention()
	}
	days := func(class string) int { return int(policy.Period(class) / privacy.Day) }
	var delZh, delEn, keptZh, keptEn []string
	del := func(n int, zh, en string) {
		if n > 0 {
			delZh = append(delZh, fmt.Sprintf("- "+zh, n))
			delEn = append(delEn, fmt.Sprintf("- "+en, n))
		}
	}
	del(rep.Records, "删除了 %d 条广告请求记录（含加密保存的设备标识符、位置等）", "deleted %d ad request records (with the encrypted device ids, location and the like)")
	del(rep.DeviceIDs, "删除了 %d 个设备标识符的关联", "deleted %d device id links")
	del(rep.Consents, "删除了 %d 份同意记录及其历史", "deleted %d consent records and their history")
	del(rep.Profiles, "删除了 %d 份账号资料", "deleted %d account profiles")
	del(rep.Bundles, "删除了 %d 份尚未过期的个人信息副本", "deleted %d copies of your information not yet expired")
	del(rep.AppsRevoked, "停止了以该账号注册的 %d 个应用的服务，并删除了其中的联系邮箱", "stopped the service for the %d apps registered with the account and removed its address from them")
	del(rep.KeysShredded, "销毁了 %d 个专属加密密钥（加密数据的全部副本，包括备份，均已无法读取）", "destroyed %d encryption keys of the subject (every copy of the encrypted data, backups included, is now unreadable)")
	if len(delZh) == 0 {
		delZh = []string{"- 我们未持有该主体的其他个人信息"}
		delEn = []string{"- we held no other personal information about the subject"}
	}
	keep := func(zh, en string) { keptZh, keptEn = append(keptZh, "- "+zh), append(keptEn, "- "+en) }
	keep(fmt.Sprintf("本请求及该主体此前 %d 项请求的处理记录，已删除联系方式和您填写的内容，作为依法响应请求的证明保留 %d 天（《个人信息保护法》第五十条）", rep.Requests, days(privacy.ClassRequests)),
		fmt.Sprintf("the record of this request and of %d earlier requests, without contact details or anything you wrote, as evidence of how we answered (PIPL art. 50), for %d days", rep.Requests, days(privacy.ClassRequests)))
	if rep.Notices > 0 {
		keep(fmt.Sprintf("%d 条通知发送记录，不再关联到您，作为已履行通知义务的证明保留 %d 天", rep.Notices, days(privacy.ClassNotices)),
			fmt.Sprintf("%d records that notices were sent, no longer linked to you, as evidence that we gave notice, for %d days", rep.Notices, days(privacy.ClassNotices)))
	}
	keep(fmt.Sprintf("网络安全日志（审计日志）：仅含您密钥的单向哈希，依《网络安全法》第二十一条保留不少于六个月（%d 天），与其他处理隔离", days(privacy.ClassAudit)),
		fmt.Sprintf("network security logs (the audit log): only a one-way hash of your key, kept at least six months as the Cybersecurity Law art. 21(3) requires (%d days), isolated from any other processing", days(privacy.ClassAudit)))
	keep("删除记录：仅含单向哈希，用于从备份恢复数据时再次执行本次删除",
		"the erasure ledger: only a one-way hash, so that this deletion is applied again if a backup is ever restored")
	if rep.AppsKept > 0 {
		keep(fmt.Sprintf("以该账号邮箱注册的 %d 个应用的开发者联系邮箱：运行这些应用所必需；如需删除，请申请注销账号", rep.AppsKept),
			fmt.Sprintf("the developer address of the %d apps registered with this account's address: running them needs it; cancel the account to remove it", rep.AppsKept))
	}
	if len(rep.Recipients) > 0 {
		keep("接收方确认删除前，保留其用于识别您的假名，以便核对其确认",
			"the pseudonym each recipient knows you by, until it confirms the deletion, to match its confirmation")
	}
	if cancel {
		keep("一条不含个人信息的注销标记，用于确保不再为该账号提供服务", "a cancellation marker without personal information, so that the service stays stopped")
	}
	keep("去标识化的统计数据（按应用、国家、系统和日期计数），无法识别任何个人", "de-identified statistics (counts per app, country, OS and day), which identify no one")
	vars := map[string]string{"subject": req.SubjectHint, "deleted_zh": strings.Join(delZh, "\n"), "deleted_en": strings.Join(delEn, "\n"),
		"kept_zh": strings.Join(keptZh, "\n"), "kept_en": strings.Join(keptEn, "\n"), "recipients_zh": "", "recipients_en": ""}
	if n := len(rep.Recipients); n > 0 {
		list := strings.Join(rep.Recipients, ", ")
		vars["recipients_zh"] = fmt.Sprintf("我们已通知从我们处获得该主体信息的 %d 个接收方（%s）删除相关信息，并跟踪其确认。", n, list)
		vars["recipients_en"] = fmt.Sprintf("We asked the %d recipients that received the subject's information from us (%s) to delete it, and track their confirmation.", n, list)
	}
	return vars
}

// resultText is what the request's history says was done.
func resultText(rep *Report, cancel bool) string {
	verb := "deleted"
	if cancel {
		verb = "account cancelled; deleted"
	}
	s := fmt.Sprintf("%s: %d ad records, %d device id links, %d consent records, %d profiles, %d export copies; %d data keys destroyed",
		verb, rep.Records, rep.DeviceIDs, rep.Consents, rep.Profiles, rep.Bundles, rep.KeysShredded)
	if cancel {
		s += fmt.Sprintf("; %d apps revoked", rep.AppsRevoked)
	}
	s += fmt.Sprintf("; kept without personal data: %d earlier requests, %d notice records, audit entries (hash only), ledger entry", rep.Requests, rep.Notices)
	if len(rep.Recipients) > 0 {
		s += fmt.Sprintf("; %d recipients asked to delete (%s)", len(rep.Recipients), strings.Join(rep.Recipients, ", "))
	}
	return s
}
