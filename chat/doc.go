// Package chat holds contacts and contact requests, messages with their
// delivery and read receipts, typing and presence, and the direct links
// (WebRTC data channels) that carry a conversation while both are online.
// Its letters go through the letters package (sealing, the durable outbox,
// mailboxes for offline contacts); names and presence come from the
// overlay's directory: app → chat → letters → overlay → store.
package chat
