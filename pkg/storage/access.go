package storage

// S3Actions are the IAM actions each Storage method of the S3 adapter needs,
// on the objects it touches (ListBucket: on the bucket). IAM policies are built
// from these (internal/awsaccess), and tests/e2e records the S3 requests each
// service really makes and checks them against this table.
//
// HeadObject is authorised by s3:GetObject, UploadPart, CreateMultipartUpload,
// CompleteMultipartUpload and the conditional PutObject (If-None-Match) by
// s3:PutObject, DeleteObjects by s3:DeleteObject on each key.
var S3Actions = map[string][]string{
	"Put":          {"s3:PutObject", "s3:AbortMultipartUpload"}, // multipart above one part; aborted on failure
	"Create":       {"s3:PutObject"},                            // If-None-Match: *
	"Open":         {"s3:GetObject"},                            // HeadObject, then ranged GETs
	"Stat":         {"s3:GetObject"},                            // HeadObject
	"Delete":       {"s3:DeleteObject"},
	"DeletePrefix": {"s3:DeleteObject", "s3:ListBucket"},
	"List":         {"s3:ListBucket"},
	"Presign":      {"s3:GetObject"},  // the URL's reader acts with the signer's rights
	"Ping":         {"s3:ListBucket"}, // HeadBucket on both buckets
	// DirectUploader: a presigned part URL acts with the signer's rights.
	"CreateUpload":   {"s3:PutObject"},
	"PresignPart":    {"s3:PutObject"},
	"Parts":          {"s3:ListMultipartUploadParts"},
	"CompleteUpload": {"s3:PutObject"},
	"AbortUpload":    {"s3:AbortMultipartUpload"},
}

// S3BucketActions are the actions of S3Actions granted on a bucket rather than
// on its objects.
var S3BucketActions = map[string]bool{"s3:ListBucket": true}
