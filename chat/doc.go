// Package chat will hold contacts and contact requests, messages over WebRTC
// data channels, receipts and offline delivery through supernode mailboxes
// (see ../shared/DESIGN.md, "Envelopes" and "Mailboxes"). It sits between
// app and overlay: app → chat → overlay → store.
package chat
