module bitgask/go

go 1.19
