package mailin

import (
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, subject, body, want string
	}{
		// One keyword per intent, both languages.
		{"delete zh", "", "请删除我的个人信息", IntentDelete},
		{"delete en", "", "Please erase everything you have on me.", IntentDelete},
		{"remove my data", "", "Remove my personal data from your systems.", IntentDelete},
		{"forgotten", "", "I invoke my right to be forgotten.", IntentDelete},
		{"copy zh", "", "请提供我的个人信息副本", IntentCopy},
		{"copy en", "", "Send me a copy of my data.", IntentCopy},
		{"access zh", "", "我想查阅你们保存的信息", IntentAccess},
		{"access en", "", "This is a subject access request.", IntentAccess},
		{"dsar", "DSAR", "", IntentAccess},
		{"portability zh", "", "请把数据迁移到另一家公司", IntentPortability},
		{"portability en", "", "Data portability, please.", IntentPortability},
		{"correct zh", "", "请修改我的收货地址", IntentCorrect},
		{"correct en", "", "Please rectify my date of birth.", IntentCorrect},
		{"incorrect", "", "My address on file is incorrect.", IntentCorrect},
		{"withdraw zh", "", "我要撤销授权", IntentWithdrawConsent},
		{"withdraw en", "", "I hereby withdraw my consent to marketing.", IntentWithdrawConsent},
		{"revoke en", "", "I revoke the consent I gave.", IntentWithdrawConsent},
		{"opt out", "", "Please opt me out. Opt-out!", IntentWithdrawConsent},
		{"personalisation off", "", "我要关闭个性化推荐", IntentWithdrawConsent},
		{"cancel zh", "", "申请注销", IntentCancelAccount},
		{"cancel en", "", "Please close my account.", IntentCancelAccount},
		{"complaint zh", "", "我要举报这个APP", IntentComplaint},
		{"complaint en", "", "I want to complain about your app.", IntentComplaint},
		{"report verb", "", "I am reporting a privacy violation.", IntentComplaint},
		{"appeal zh", "", "我对处理结果申诉", IntentAppeal},
		{"appeal en", "", "I appeal against your decision.", IntentAppeal},
		{"nothing", "hello", "hello, is this monitored?", ""},
		{"empty", "", "", ""},

		// Case, width and script folding.
		{"upper", "", "DELETE MY DATA", IntentDelete},
		{"full width", "", "ＤＥＬＥＴＥ", IntentDelete},
		{"traditional cancel", "", "請求註銷帳號", IntentCancelAccount},
		{"traditional complaint", "", "我要舉報", IntentComplaint},
		{"traditional appeal", "申訴", "", IntentAppeal},

		// Words that look like keywords but are not.
		{"copyright", "", "Copyright 2025 Example Ltd.", ""},
		{"report noun", "", "Please send me a report on the data you hold.", ""},

		// Priority order (see intentRules).
		{"withdraw is not delete", "", "我要撤回同意", IntentWithdrawConsent},
		{"withdraw outranks delete", "", "撤回同意后，请删除已收集的数据", IntentWithdrawConsent},
		{"cancel outranks delete", "", "请注销账号并删除全部数据", IntentCancelAccount},
		{"delete my account", "", "Please delete my account.", IntentCancelAccount},
		{"delete account zh", "", "删除我的账号", IntentCancelAccount},
		{"cancel outranks withdraw", "", "撤回同意并注销账号", IntentCancelAccount},
		{"complaint outranks delete", "", "我投诉你们没有删除我的数据", IntentComplaint},
		{"appeal outranks complaint", "", "对投诉处理结果提出申诉", IntentAppeal},
		{"portability outranks copy", "", "将副本转移给新服务商", IntentPortability},
		{"correct outranks copy", "", "请更正姓名并发我一份副本", IntentCorrect},
		{"copy outranks access", "", "查询并提供副本", IntentCopy},
		{"delete outranks correct", "", "修改或删除都行", IntentDelete},

		// Subject weighted over body.
		{"subject wins", "Data access request", "Please do not delete anything meanwhile.", IntentAccess},
		{"body when subject silent", "Request", "请删除我的数据", IntentDelete},
		{"reply subject yields to new text", "Re: 您的访问请求已完成", "现在请更正我的手机号", IntentCorrect},
		{"reply subject still counts", "回复：您的删除请求", "谢谢", IntentDelete},
		{"fwd subject yields", "Fwd: Copy request", "I appeal.", IntentAppeal},

		// Quoted and forwarded text does not override the new text.
		{"quote ignored", "", "我要投诉\n> 您的删除请求已完成", IntentComplaint},
		{"quote used as fallback", "", "谢谢\n> 请删除我的数据", IntentDelete},
		{"gmail attribution", "", "Please correct my name.\n\nOn Mon, 3 Mar 2025, Veil <p@v.example> wrote:\nYour deletion request is complete.", IntentCorrect},
		{"chinese attribution", "", "我要查阅记录。\n\n在 2025年3月3日 10:00，隐私团队 写道：\n您的删除请求已完成", IntentAccess},
		{"outlook header block", "", "Please correct my name.\n\nFrom: Veil <p@v.example>\nSent: Monday\nSubject: Your deletion request\n", IntentCorrect},
		{"outlook chinese block", "", "我要申诉。\n\n发件人: Veil\n发送时间: 2025年3月3日\n主题: 删除请求被拒绝\n", IntentAppeal},
		{"forward fallback", "Fwd: hi", "see below\n\n---------- Forwarded message ---------\nFrom: x\nSubject: delete my data\n\nplease", IntentDelete},
		{"original message", "", "FYI\n-----Original Message-----\nPlease erase my data", IntentDelete},
		{"from line alone is text", "", "From: me, with thanks.\nPlease delete my data.", IntentDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.subject, tc.body); got != tc.want {
				t.Errorf("Classify(%q, %q) = %q, want %q", tc.subject, tc.body, got, tc.want)
			}
		})
	}
}

func TestExtractDevices(t *testing.T) {
	const u = "1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"
	const ul = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
	tests := []struct {
		name, body string
		want       []string
	}{
		{"oaid colon", "OAID: " + u, []string{"device:oaid:" + ul}},
		{"oaid equals", "oaid=" + u + ".", []string{"device:oaid:" + ul}},
		{"oaid gloss", "OAID（开放匿名设备标识符）：" + u, []string{"device:oaid:" + ul}},
		{"oaid 16 hex", "OAID：a1b2c3d4e5f60718", []string{"device:oaid:a1b2c3d4e5f60718"}},
		{"oaid 64 hex", "OAID: " + "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
			[]string{"device:oaid:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"}},
		{"zero oaid", "OAID: 00000000-0000-0000-0000-000000000000", nil},
		{"idfa", "IDFA is " + u, []string{"device:idfa:" + ul}},
		{"idfa not uuid", "IDFA: 1234", nil},
		{"gaid quoted", `GAID: "` + u + `"`, []string{"device:gaid:" + ul}},
		{"advertising id", "Advertising ID: " + u, []string{"device:gaid:" + ul}},
		{"imei", "IMEI: 490154203237518", []string{"device:imei:490154203237518"}},
		{"imei spaced", "IMEI号码：49 015420 323751 8", []string{"device:imei:490154203237518"}},
		{"imei dashed", "imei 49-015420-323751-8", []string{"device:imei:490154203237518"}},
		{"imei bad luhn", "IMEI: 490154203237519", nil},
		{"imei too short", "IMEI: 49015420323751", nil},
		{"android id", "Android ID: 9F3B2A1C4D5E6F70", []string{"device:android_id:9f3b2a1c4d5e6f70"}},
		{"android_id", "android_id=9f3b2a1c4d5e6f70", []string{"device:android_id:9f3b2a1c4d5e6f70"}},
		{"安卓id", "安卓ID：9f3b2a1c4d5e6f70", []string{"device:android_id:9f3b2a1c4d5e6f70"}},
		{"设备ID uuid", "设备ID：" + u, []string{"device:oaid:" + ul}},
		{"设备号 imei", "设备号: 490154203237518", []string{"device:imei:490154203237518"}},
		{"设备标识 android", "设备标识为9f3b2a1c4d5e6f70", []string{"device:android_id:9f3b2a1c4d5e6f70"}},
		{"广告标识符", "广告标识符：" + u, []string{"device:oaid:" + ul}},
		{"traditional", "廣告識別碼：" + u, []string{"device:oaid:" + ul}},
		{"normalized form", "device:IDFA:" + u, []string{"device:idfa:" + ul}},
		{"unlabelled uuid", "Ticket " + u, nil},
		{"trailing letters", "OAID: " + u + "zz", nil},
		{"dedupe", "OAID: " + u + "\noaid: " + ul + "\nIMEI: 490154203237518",
			[]string{"device:oaid:" + ul, "device:imei:490154203237518"}},
		{"several on one line", "OAID:" + u + ",IMEI:490154203237518;Android ID:9f3b2a1c4d5e6f70",
			[]string{"device:oaid:" + ul, "device:imei:490154203237518", "device:android_id:9f3b2a1c4d5e6f70"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := extractDevices(tc.body); !slices.Equal(got, tc.want) {
				t.Errorf("extractDevices(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}
