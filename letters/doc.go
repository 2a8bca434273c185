// Package letters carries sealed letters between contacts: it seals and
// opens them (overlay/envelope), drops replays, keeps the durable outbox
// and its retries, and lets a letter in only from the contacts its kind
// allows (the contact gate). It sits between the services that speak in
// letters (chat, call, and later groups and files) and the overlay that
// delivers them: app → chat, call → letters → overlay → store.
//
// Each service registers the kinds it owns with a Kind: its handler, its
// gate and how the outbox treats it. Kind numbers are part of the
// protocol and never reused; they are allotted in ranges:
//
//	 1– 63  chat (contacts, messages, receipts, typing, direct links)
//	64– 95  call
//	96–255  free for the services to come (groups, files, group calls)
//
// Register refuses a kind that is taken, so two services can never both
// believe they own one.
package letters
