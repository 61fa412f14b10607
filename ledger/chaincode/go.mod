module hubledger/chaincode

go 1.22
