module github.com/keyhole-auth/keyhole/clients/go

go 1.19
