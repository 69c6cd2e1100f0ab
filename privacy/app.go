package privacy

import "time"

// App is a developer's app registered to use the SDK. Its key is shown once
// at registration; only its hash is stored.
type App struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Platform       Platform   `json:"platform"`
	DeveloperEmail string     `json:"developer_email"`
	KeyHash        string     `json:"key_hash"`
	DisclosesSDK   bool       `json:"discloses_sdk"`
	ChildDirected  bool       `json:"child_directed,omitempty"`
	PushWebhook    string     `json:"push_webhook,omitempty"` // where notify posts pushes for this app's users
	Revoked        bool       `json:"revoked,omitempty"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}
