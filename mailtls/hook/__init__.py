"""`mailtls hook`: the deploy hook of certbot, acme.sh and dehydrated."""
