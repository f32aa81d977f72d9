// The infusion.v1.Infusion service on gRPC's callback API. Each call is authenticated, parsed and
// converted on the gRPC thread, then handed to a GenerationStream, which submits it to the
// engine (which validates it) on the same thread.
//
// The streaming methods take their requests as raw bytes (RequestParser), so that a request
// protobuf cannot parse (a string that is not UTF-8) is answered with INVALID_ARGUMENT naming the
// field instead of gRPC's bare UNIMPLEMENTED. Clients see the ordinary typed service.
#ifndef INFUSION_SERVER_INFUSION_SERVICE_H_
#define INFUSION_SERVER_INFUSION_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "infusion/v1/infusion.grpc.pb.h"
#include "server/api_key_authenticator.h"
#include "server/call_gate.h"
#include "server/generation_stream.h"
#include "server/request_parser.h"

namespace infusion::server {

using InfusionServiceBase = v1::Infusion::WithRawCallbackMethod_Generate<
    v1::Infusion::WithRawCallbackMethod_TextToImage<v1::Infusion::WithRawCallbackMethod_Caption<
        v1::Infusion::WithRawCallbackMethod_Chat<v1::Infusion::WithRawCallbackMethod_EditImage<
            v1::Infusion::WithCallbackMethod_GetModelInfo<v1::Infusion::Service>>>>>>;

class InfusionService : public InfusionServiceBase {
 public:
  // Every pointer must outlive the service; `authenticator` may be null (no authentication).
  // Calls are refused with UNAVAILABLE once `gate` is closed.
  InfusionService(const StreamEnvironment& env, const RequestParser* parser,
                  const ApiKeyAuthenticator* authenticator, CallGate* gate);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* TextToImage(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Caption(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Chat(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* EditImage(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  // The common path of the streaming methods; `Proto` is the method's request message.
  template <typename Proto>
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Serve(const char* rpc,
                                                    grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer& bytes);
  absl::Status Authenticate(const grpc::CallbackServerContext& context) const;

  const StreamEnvironment env_;
  const RequestParser* const parser_;
  const ApiKeyAuthenticator* const authenticator_;
  CallGate* const gate_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_INFUSION_SERVICE_H_
